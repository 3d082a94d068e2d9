//! Unit tests of label-set validation and re-lexing.

use super::*;

fn parse(input: &str, ws: bool, slot: NameSlot) -> Result<(LabelSet, Vec<String>), ErrorKind> {
    let b = input.as_bytes();
    let mut names = Vec::new();
    let set = parse_label_set(b, 0, b.len(), ws, slot, &mut names)?;
    check_duplicates(&mut names, slot != NameSlot::Forbidden)?;
    let names = names
        .iter()
        .map(|n| String::from_utf8_lossy(n.raw).into_owned())
        .collect();
    Ok((set, names))
}

fn pairs(input: &str) -> Vec<(String, String)> {
    LabelIter::new(input)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[test]
fn valid_sets_and_their_pairs() {
    // (input, text whitespace allowed, slot, expected pairs, metric name)
    type Case<'a> = (
        &'a str,
        bool,
        NameSlot,
        &'a [(&'a str, &'a str)],
        Option<&'a str>,
    );
    let cases: &[Case<'_>] = &[
        ("{}", false, NameSlot::Taken, &[], None),
        (r#"{a="1"}"#, false, NameSlot::Taken, &[("a", "1")], None),
        (r#"{a="1",}"#, false, NameSlot::Taken, &[("a", "1")], None),
        (
            r#"{a="1",b_2="x y"}"#,
            false,
            NameSlot::Taken,
            &[("a", "1"), ("b_2", "x y")],
            None,
        ),
        (r#"{a=""}"#, false, NameSlot::Taken, &[("a", "")], None),
        (
            r#"{path="C:\\DIR\\F.TXT",err="no \"F\"\nline2"}"#,
            false,
            NameSlot::Taken,
            &[("path", r"C:\DIR\F.TXT"), ("err", "no \"F\"\nline2")],
            None,
        ),
        (r#"{a="\t"}"#, false, NameSlot::Taken, &[("a", r"\t")], None),
        (
            r#"{a="}{,=\"="}"#,
            false,
            NameSlot::Taken,
            &[("a", r#"}{,="="#)],
            None,
        ),
        (
            r#"{a="ünï ☃"}"#,
            false,
            NameSlot::Taken,
            &[("a", "ünï ☃")],
            None,
        ),
        (
            r#"{"my.metric","label.x"="v"}"#,
            false,
            NameSlot::Open,
            &[("label.x", "v")],
            Some("my.metric"),
        ),
        (
            r#"{"label.x"="v", "my.metric"}"#,
            true,
            NameSlot::Open,
            &[("label.x", "v")],
            Some("my.metric"),
        ),
        (r#"{"m"}"#, false, NameSlot::Open, &[], Some("m")),
        (r#"{"m",}"#, false, NameSlot::Open, &[], Some("m")),
        (
            r#"{"q\"n"="v"}"#,
            false,
            NameSlot::Taken,
            &[("q\"n", "v")],
            None,
        ),
        (
            " { a = \"1\" ,\tb=\"2\" , } ",
            true,
            NameSlot::Taken,
            &[("a", "1"), ("b", "2")],
            None,
        ),
        (
            r#"{trace_id="abc"}"#,
            false,
            NameSlot::Forbidden,
            &[("trace_id", "abc")],
            None,
        ),
    ];
    for &(input, ws, slot, want, metric) in cases {
        let trimmed = if ws { input.trim_start() } else { input };
        let (set, _) = parse(trimmed, ws, slot).unwrap_or_else(|e| panic!("{input}: {e}"));
        let consumed = &trimmed[..set.next];
        assert!(consumed.ends_with('}'), "{input}");
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(pairs(consumed), want, "{input}");
        let got_metric = set.name.map(|(a, b, _)| &trimmed[a..b]);
        assert_eq!(got_metric, metric, "{input}");
    }
}

#[test]
fn invalid_sets() {
    type Check = fn(&ErrorKind) -> bool;
    let cases: &[(&str, bool, NameSlot, Check, &str)] = &[
        (
            "{",
            false,
            NameSlot::Taken,
            |e| matches!(e, ErrorKind::Unexpected { .. }),
            "end of line",
        ),
        (
            r#"{a}"#,
            false,
            NameSlot::Taken,
            |e| matches!(e, ErrorKind::Unexpected { .. }),
            "expected '=' after label name \"a\", found '}'",
        ),
        (
            r#"{a=1}"#,
            false,
            NameSlot::Taken,
            |e| matches!(e, ErrorKind::Unexpected { .. }),
            "label value",
        ),
        (
            r#"{a="1"b="2"}"#,
            false,
            NameSlot::Taken,
            |e| matches!(e, ErrorKind::Unexpected { .. }),
            "',' or '}'",
        ),
        (
            r#"{a="1",,b="2"}"#,
            false,
            NameSlot::Taken,
            |e| matches!(e, ErrorKind::Unexpected { .. }),
            "found ','",
        ),
        (
            r#"{,}"#,
            false,
            NameSlot::Taken,
            |e| matches!(e, ErrorKind::Unexpected { .. }),
            "found ','",
        ),
        (
            r#"{1a="x"}"#,
            false,
            NameSlot::Taken,
            |e| matches!(e, ErrorKind::Unexpected { .. }),
            "found '1'",
        ),
        (
            r#"{a:b="x"}"#,
            false,
            NameSlot::Taken,
            |e| matches!(e, ErrorKind::Unexpected { .. }),
            "found ':'",
        ),
        (
            r#"{a="1}"#,
            false,
            NameSlot::Taken,
            |e| matches!(e, ErrorKind::Unterminated(_)),
            "value of label \"a\"",
        ),
        (
            r#"{a="1\"}"#,
            false,
            NameSlot::Taken,
            |e| matches!(e, ErrorKind::Unterminated(_)),
            "unterminated",
        ),
        (
            r#"{"a}"#,
            false,
            NameSlot::Taken,
            |e| matches!(e, ErrorKind::Unterminated(_)),
            "unterminated",
        ),
        (
            r#"{a="1", a="2"}"#,
            true,
            NameSlot::Taken,
            |e| *e == ErrorKind::DuplicateLabel("a".into()),
            "duplicate",
        ),
        (
            r#"{a="1","a"="2"}"#,
            false,
            NameSlot::Taken,
            |e| *e == ErrorKind::DuplicateLabel("a".into()),
            "duplicate",
        ),
        (
            r#"{"a\"b"="1","a\"b"="2"}"#,
            false,
            NameSlot::Taken,
            |e| *e == ErrorKind::DuplicateLabel("a\"b".into()),
            "duplicate",
        ),
        (
            r#"{__name__="x"}"#,
            false,
            NameSlot::Taken,
            |e| *e == ErrorKind::DuplicateLabel("__name__".into()),
            "duplicate",
        ),
        (
            r#"{"m","n"}"#,
            false,
            NameSlot::Open,
            |e| *e == ErrorKind::MetricNameTwice,
            "twice",
        ),
        (
            r#"{"m"}"#,
            false,
            NameSlot::Taken,
            |e| *e == ErrorKind::MetricNameTwice,
            "twice",
        ),
        (
            r#"{""}"#,
            false,
            NameSlot::Open,
            |e| *e == ErrorKind::EmptyName("metric name"),
            "empty",
        ),
        (
            r#"{""="v"}"#,
            false,
            NameSlot::Taken,
            |e| *e == ErrorKind::EmptyName("label name"),
            "empty",
        ),
        (
            r#"{"m"}"#,
            false,
            NameSlot::Forbidden,
            |e| matches!(e, ErrorKind::Unexpected { .. }),
            "expected '='",
        ),
        (
            r#"{ a="1"}"#,
            false,
            NameSlot::Taken,
            |e| matches!(e, ErrorKind::Unexpected { .. }),
            "found ' '",
        ),
        (
            r#"{a= "1"}"#,
            false,
            NameSlot::Taken,
            |e| matches!(e, ErrorKind::Unexpected { .. }),
            "found ' '",
        ),
    ];
    for &(input, ws, slot, check, msg) in cases {
        match parse(input, ws, slot) {
            Ok(_) => panic!("{input}: accepted"),
            Err(e) => {
                assert!(check(&e), "{input}: wrong kind {e:?}");
                assert!(e.to_string().contains(msg), "{input}: {e} lacks {msg:?}");
            }
        }
    }
}

#[test]
fn duplicates_in_large_sets() {
    let mut s = String::from("{");
    for k in 0..40 {
        s.push_str(&format!("l{k}=\"v\","));
    }
    assert!(parse(&format!("{s}}}"), false, NameSlot::Taken).is_ok());
    let dup = format!("{s}l17=\"again\"}}");
    assert_eq!(
        parse(&dup, false, NameSlot::Taken).map(|_| ()),
        Err(ErrorKind::DuplicateLabel("l17".into()))
    );
}

#[test]
fn no_duplicate_check_for_name_in_exemplar() {
    // `__name__` is an ordinary label name in an exemplar.
    assert!(parse(r#"{__name__="x"}"#, false, NameSlot::Forbidden).is_ok());
}

#[test]
fn iterator_on_empty_and_garbage_ends() {
    assert_eq!(LabelIter::new("").count(), 0);
    assert_eq!(LabelIter::new("{}").count(), 0);
    // Never fed garbage by the parser, but must still end without panicking.
    for s in [
        "{a",
        "{a=",
        "{a=\"x",
        "{\"x",
        "{=}",
        "{a=\"1\"",
        "{a=\"1\" b",
    ] {
        let n = LabelIter::new(s).take(10).count();
        assert!(n <= 1, "{s}");
    }
}
