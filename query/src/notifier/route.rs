//! The routing tree as the dispatcher walks it: Alertmanager's depth-first matching (a route
//! matches when its matchers do; its children are tried in order, stopping after the first
//! match unless that child has `continue`; a route none of whose children matched is itself
//! the match), each route's key (`{}/{matchers}` as Alertmanager prints it) and the group
//! labels of an alert under a route.
//!
//! Cost: matching is one pass over the matchers of the visited routes; no allocation except
//! the result list.

use std::collections::BTreeMap;
use std::time::Duration;

use lookout_config::notify::{AlertMatcher, GroupBy, MatchOp, Route};

use super::alert::go_quote;

/// A route with its Alertmanager key.
#[derive(Debug)]
pub(crate) struct RouteNode {
    pub key: String,
    pub receiver: String,
    pub group_by: GroupBy,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    matchers: Vec<AlertMatcher>,
    continue_: bool,
    children: Vec<RouteNode>,
}

impl RouteNode {
    pub fn build(r: &Route) -> RouteNode {
        Self::build_under(r, None)
    }

    fn build_under(r: &Route, parent_key: Option<&str>) -> RouteNode {
        let mut ms: Vec<&AlertMatcher> = r.matchers.iter().collect();
        ms.sort_by(|a, b| {
            (&a.name, &a.value, op_str(a.op)).cmp(&(&b.name, &b.value, op_str(b.op)))
        });
        let printed: Vec<String> = ms
            .iter()
            .map(|m| format!("{}{}{}", m.name, op_str(m.op), go_quote(&m.value)))
            .collect();
        let own = format!("{{{}}}", printed.join(","));
        let key = match parent_key {
            Some(p) => format!("{p}/{own}"),
            None => own,
        };
        let children = r
            .routes
            .iter()
            .map(|c| Self::build_under(c, Some(&key)))
            .collect();
        RouteNode {
            key,
            receiver: r.receiver.clone(),
            group_by: r.group_by.clone(),
            group_wait: r.group_wait,
            group_interval: r.group_interval,
            repeat_interval: r.repeat_interval,
            matchers: r.matchers.clone(),
            continue_: r.continue_,
            children,
        }
    }

    /// The routes an alert with these labels goes to.
    pub fn matches<'a>(&'a self, labels: &BTreeMap<String, String>) -> Vec<&'a RouteNode> {
        let mut out = Vec::new();
        self.match_into(labels, &mut out);
        out
    }

    fn match_into<'a>(
        &'a self,
        labels: &BTreeMap<String, String>,
        out: &mut Vec<&'a RouteNode>,
    ) -> bool {
        if !self.matchers.iter().all(|m| m.matches(labels)) {
            return false;
        }
        let before = out.len();
        for c in &self.children {
            if c.match_into(labels, out) && !c.continue_ {
                break;
            }
        }
        if out.len() == before {
            out.push(self);
        }
        true
    }

    /// The labels an alert is grouped by under this route (absent labels are left out).
    pub fn group_labels(&self, labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        match &self.group_by {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => names
                .iter()
                .filter_map(|n| labels.get(n).map(|v| (n.clone(), v.clone())))
                .collect(),
        }
    }
}

fn op_str(op: MatchOp) -> &'static str {
    match op {
        MatchOp::Eq => "=",
        MatchOp::Ne => "!=",
        MatchOp::Re => "=~",
        MatchOp::NotRe => "!~",
    }
}
