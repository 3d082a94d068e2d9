//! Parsing Go `text/template` syntax (the subset alert templates use) into a tree.
//!
//! Supported: text; actions `{{ pipeline }}` with `{{-`/`-}}` trimming; comments
//! `{{/* */}}`; variables (`$x := ...`, `$x = ...`, `$`, `$x.Field`); fields (`.`,
//! `.A.B`); literals (strings "..." and `...`, numbers, true/false/nil); function calls
//! and pipes (`a | f b`); parenthesised pipelines; `if`/`else if`/`else`/`end`,
//! `range` (with `$i, $v :=`), `with`. Not supported (a parse error names them): `define`,
//! `template`, `block`, `break`, `continue`.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Text(String),
    Action(Pipe),
    If {
        pipe: Pipe,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Range {
        pipe: Pipe,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    With {
        pipe: Pipe,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pipe {
    /// Variables declared (`:=`) or assigned (`=`) by this pipeline.
    pub vars: Vec<String>,
    pub assign: bool,
    pub cmds: Vec<Cmd>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cmd {
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// `.` followed by field names (empty: the dot itself).
    Field(Vec<String>),
    /// `$name` followed by field names (`$` alone is the name "").
    Var(String, Vec<String>),
    Str(String),
    Num(f64),
    Bool(bool),
    Nil,
    /// A function name.
    Ident(String),
    /// `( pipeline )` optionally followed by fields.
    Sub(Box<Pipe>, Vec<String>),
}

/// A template syntax error with its 1-based line.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub msg: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "template: line {}: {}", self.line, self.msg)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Str(String),
    Num(f64),
    Ident(String),
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
    /// Fields after a `)`.
    Fields(Vec<String>),
}

enum Piece {
    Text(String),
    Action(Vec<Tok>, usize),
}

/// Parses a template.
pub fn parse(src: &str) -> Result<Vec<Node>, ParseError> {
    let pieces = split(src)?;
    let mut p = Parser { pieces, pos: 0 };
    let (nodes, end) = p.list()?;
    if let Some((kw, line)) = end {
        return Err(ParseError {
            line,
            msg: format!("unexpected {{{{{kw}}}}}"),
        });
    }
    Ok(nodes)
}

fn split(src: &str) -> Result<Vec<Piece>, ParseError> {
    let mut out = Vec::new();
    let mut rest = src;
    let mut line = 1;
    while let Some(i) = rest.find("{{") {
        let mut text = &rest[..i];
        let after = &rest[i + 2..];
        let trim_left =
            after.starts_with("- ") || after.starts_with("-\t") || after.starts_with("-\n");
        if trim_left {
            text = text.trim_end();
        }
        if !text.is_empty() {
            out.push(Piece::Text(text.to_string()));
        }
        line += rest[..i].matches('\n').count();
        let body_start = if trim_left { &after[1..] } else { after };
        // A comment may contain "}}"-free text only up to "*/}}".
        let (body, tail, trim_right) = if body_start.trim_start().starts_with("/*") {
            let Some(e) = body_start.find("*/") else {
                return Err(ParseError {
                    line,
                    msg: "unclosed comment".into(),
                });
            };
            let after_c = &body_start[e + 2..];
            let (tr, after_c) = match after_c.trim_start().strip_prefix("-") {
                Some(x) => (true, x),
                None => (false, after_c.trim_start()),
            };
            let Some(t) = after_c.strip_prefix("}}") else {
                return Err(ParseError {
                    line,
                    msg: "comment ends before closing delimiter".into(),
                });
            };
            ("", t, tr)
        } else {
            let Some(e) = find_close(body_start) else {
                return Err(ParseError {
                    line,
                    msg: "unclosed action".into(),
                });
            };
            let mut body = &body_start[..e];
            let mut tr = false;
            if body.ends_with(" -") || body.ends_with("\t-") || body.ends_with("\n-") {
                body = &body[..body.len() - 1];
                tr = true;
            }
            (body, &body_start[e + 2..], tr)
        };
        if !body.trim().is_empty() {
            out.push(Piece::Action(lex(body, line)?, line));
        }
        line += body.matches('\n').count();
        rest = if trim_right { tail.trim_start() } else { tail };
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest.to_string()));
    }
    Ok(out)
}

/// The index of the `}}` closing an action, skipping string literals.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b[i + 1] == b'}' => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn fields(s: &[char], i: &mut usize) -> Vec<String> {
    let mut out = Vec::new();
    while *i < s.len() && s[*i] == '.' && *i + 1 < s.len() && ident_char(s[*i + 1]) {
        *i += 1;
        let st = *i;
        while *i < s.len() && ident_char(s[*i]) {
            *i += 1;
        }
        out.push(s[st..*i].iter().collect());
    }
    out
}

fn lex(body: &str, line: usize) -> Result<Vec<Tok>, ParseError> {
    let err = |msg: String| ParseError { line, msg };
    let s: Vec<char> = body.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < s.len() {
        let c = s[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '|' => {
                out.push(Tok::Pipe);
                i += 1;
            }
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                i += 1;
                out.push(Tok::RParen);
                let f = fields(&s, &mut i);
                if !f.is_empty() {
                    out.push(Tok::Fields(f));
                }
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            ':' if s.get(i + 1) == Some(&'=') => {
                out.push(Tok::Declare);
                i += 2;
            }
            '=' => {
                out.push(Tok::Assign);
                i += 1;
            }
            '.' => {
                let f = fields(&s, &mut i);
                if f.is_empty() {
                    i += 1;
                }
                out.push(Tok::Field(f));
            }
            '$' => {
                i += 1;
                let st = i;
                while i < s.len() && ident_char(s[i]) {
                    i += 1;
                }
                let name: String = s[st..i].iter().collect();
                let f = fields(&s, &mut i);
                out.push(Tok::Var(name, f));
            }
            '"' => {
                i += 1;
                let mut v = String::new();
                loop {
                    let Some(&ch) = s.get(i) else {
                        return Err(err("unterminated quoted string".into()));
                    };
                    i += 1;
                    match ch {
                        '"' => break,
                        '\\' => {
                            let Some(&e) = s.get(i) else {
                                return Err(err("unterminated quoted string".into()));
                            };
                            i += 1;
                            v.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                '\\' => '\\',
                                '"' => '"',
                                '\'' => '\'',
                                other => {
                                    return Err(err(format!("unknown escape sequence \\{other}")));
                                }
                            });
                        }
                        other => v.push(other),
                    }
                }
                out.push(Tok::Str(v));
            }
            '`' => {
                i += 1;
                let st = i;
                while i < s.len() && s[i] != '`' {
                    i += 1;
                }
                if i >= s.len() {
                    return Err(err("unterminated raw quoted string".into()));
                }
                out.push(Tok::Str(s[st..i].iter().collect()));
                i += 1;
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+') && s.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                let st = i;
                i += 1;
                while i < s.len()
                    && (s[i].is_ascii_alphanumeric()
                        || s[i] == '.'
                        || ((s[i] == '-' || s[i] == '+') && matches!(s[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
                let t: String = s[st..i].iter().collect();
                let v = t.parse::<f64>().ok().or_else(|| {
                    let (neg, h) = match t.strip_prefix('-') {
                        Some(h) => (true, h),
                        None => (false, t.trim_start_matches('+')),
                    };
                    let h = h.strip_prefix("0x").or_else(|| h.strip_prefix("0X"))?;
                    let v = i64::from_str_radix(h, 16).ok()? as f64;
                    Some(if neg { -v } else { v })
                });
                match v {
                    Some(v) => out.push(Tok::Num(v)),
                    None => return Err(err(format!("bad number syntax: {t:?}"))),
                }
            }
            c if c.is_alphabetic() || c == '_' => {
                let st = i;
                while i < s.len() && ident_char(s[i]) {
                    i += 1;
                }
                out.push(Tok::Ident(s[st..i].iter().collect()));
            }
            other => return Err(err(format!("unexpected {other:?} in action"))),
        }
    }
    Ok(out)
}

struct Parser {
    pieces: Vec<Piece>,
    pos: usize,
}

impl Parser {
    /// Parses nodes until `end`/`else` (returned with its line) or the end of input.
    #[allow(clippy::type_complexity)]
    fn list(&mut self) -> Result<(Vec<Node>, Option<(String, usize)>), ParseError> {
        let mut nodes = Vec::new();
        while self.pos < self.pieces.len() {
            let i = self.pos;
            self.pos += 1;
            let (toks, line) = match &self.pieces[i] {
                Piece::Text(t) => {
                    nodes.push(Node::Text(t.clone()));
                    continue;
                }
                Piece::Action(t, l) => (t.clone(), *l),
            };
            let kw = match toks.first() {
                Some(Tok::Ident(k)) => k.as_str(),
                _ => "",
            };
            match kw {
                "end" => return Ok((nodes, Some(("end".into(), line)))),
                "else" => {
                    // Keep the rest (e.g. `else if x`) for the caller.
                    let rest = toks[1..].to_vec();
                    self.pieces[i] = Piece::Action(rest, line);
                    return Ok((nodes, Some(("else".into(), line))));
                }
                "if" | "range" | "with" => {
                    let node = self.block(kw, &toks[1..], line)?;
                    nodes.push(node);
                }
                "define" | "template" | "block" | "break" | "continue" => {
                    return Err(ParseError {
                        line,
                        msg: format!("{{{{{kw}}}}} is not supported in lookout templates"),
                    });
                }
                _ => nodes.push(Node::Action(pipe(&toks, line)?)),
            }
        }
        Ok((nodes, None))
    }

    fn block(&mut self, kw: &str, toks: &[Tok], line: usize) -> Result<Node, ParseError> {
        let p = pipe(toks, line)?;
        let (body, end) = self.list()?;
        let mut otherwise = Vec::new();
        match end {
            Some((e, _)) if e == "end" => {}
            Some((e, l)) if e == "else" => {
                let Piece::Action(rest, _) = &self.pieces[self.pos - 1] else {
                    unreachable!("else is an action")
                };
                let rest = rest.clone();
                if let Some(Tok::Ident(k)) = rest.first()
                    && (k == "if" || k == "with")
                {
                    // `else if` chains: the nested block consumes the final `end`.
                    otherwise.push(self.block(&k.clone(), &rest[1..], l)?);
                } else if !rest.is_empty() {
                    return Err(ParseError {
                        line: l,
                        msg: "unexpected tokens after else".into(),
                    });
                } else {
                    let (o, end2) = self.list()?;
                    otherwise = o;
                    if end2.as_ref().map(|e| e.0.as_str()) != Some("end") {
                        return Err(ParseError {
                            line: l,
                            msg: format!("missing {{{{end}}}} for {kw}"),
                        });
                    }
                }
            }
            _ => {
                return Err(ParseError {
                    line,
                    msg: format!("unexpected EOF: missing {{{{end}}}} for {kw}"),
                });
            }
        }
        Ok(match kw {
            "if" => Node::If {
                pipe: p,
                then: body,
                otherwise,
            },
            "range" => Node::Range {
                pipe: p,
                body,
                otherwise,
            },
            _ => Node::With {
                pipe: p,
                body,
                otherwise,
            },
        })
    }
}

fn pipe(toks: &[Tok], line: usize) -> Result<Pipe, ParseError> {
    let err = |msg: &str| ParseError {
        line,
        msg: msg.to_string(),
    };
    let mut vars = Vec::new();
    let mut assign = false;
    let mut start = 0;
    // `$a := ...`, `$a, $b := ...`, `$a = ...`
    let decl_at = toks
        .iter()
        .position(|t| matches!(t, Tok::Declare | Tok::Assign));
    if let Some(d) = decl_at
        && toks[..d]
            .iter()
            .all(|t| matches!(t, Tok::Var(_, f) if f.is_empty()) || *t == Tok::Comma)
        && d > 0
    {
        for t in &toks[..d] {
            if let Tok::Var(n, _) = t {
                vars.push(n.clone());
            }
        }
        assign = toks[d] == Tok::Assign;
        start = d + 1;
    }
    let mut cmds = Vec::new();
    let mut i = start;
    let mut cur = Vec::new();
    while i < toks.len() {
        match &toks[i] {
            Tok::Pipe => {
                if cur.is_empty() {
                    return Err(err("missing command before |"));
                }
                cmds.push(Cmd {
                    args: std::mem::take(&mut cur),
                });
            }
            Tok::LParen => {
                let mut depth = 1;
                let st = i + 1;
                let mut j = st;
                while j < toks.len() && depth > 0 {
                    match toks[j] {
                        Tok::LParen => depth += 1,
                        Tok::RParen => depth -= 1,
                        _ => {}
                    }
                    j += 1;
                }
                if depth != 0 {
                    return Err(err("unclosed left paren"));
                }
                let inner = pipe(&toks[st..j - 1], line)?;
                let mut f = Vec::new();
                if let Some(Tok::Fields(ff)) = toks.get(j) {
                    f = ff.clone();
                    j += 1;
                }
                cur.push(Arg::Sub(Box::new(inner), f));
                i = j;
                continue;
            }
            Tok::RParen => return Err(err("unexpected right paren")),
            Tok::Field(f) => cur.push(Arg::Field(f.clone())),
            Tok::Var(n, f) => cur.push(Arg::Var(n.clone(), f.clone())),
            Tok::Str(s) => cur.push(Arg::Str(s.clone())),
            Tok::Num(n) => cur.push(Arg::Num(*n)),
            Tok::Ident(id) => cur.push(match id.as_str() {
                "true" => Arg::Bool(true),
                "false" => Arg::Bool(false),
                "nil" => Arg::Nil,
                _ => Arg::Ident(id.clone()),
            }),
            Tok::Declare | Tok::Assign | Tok::Comma | Tok::Fields(_) => {
                return Err(err("unexpected token in pipeline"));
            }
        }
        i += 1;
    }
    if !cur.is_empty() {
        cmds.push(Cmd { args: cur });
    }
    if cmds.is_empty() {
        return Err(err("missing value for command"));
    }
    Ok(Pipe { vars, assign, cmds })
}
