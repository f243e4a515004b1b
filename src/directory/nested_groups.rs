//! Groups in groups: from a person's own groups upwards, one level at a time, to a bounded
//! depth. Each level costs one lookup for the whole level (not one per group), a group
//! reached twice is followed once, so cycles end, and the total is capped.

use std::collections::HashSet;
use std::future::Future;

use crate::config::GroupValue;

/// The most groups one person is given; a directory with more is cut short (and warned of).
pub(crate) const MAX_GROUPS: usize = 1000;

/// A group as found: its DN (the key for cycles) and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupRef {
    pub dn: String,
    pub name: String,
}

/// `direct` and, up to `depth` levels above them, every group they are in. `parents_of`
/// gets the DNs of one level and answers the groups those are direct members of.
pub(crate) async fn with_ancestors<F, Fut, E>(
    direct: Vec<GroupRef>,
    depth: u32,
    mut parents_of: F,
) -> Result<Vec<GroupRef>, E>
where
    F: FnMut(Vec<String>) -> Fut,
    Fut: Future<Output = Result<Vec<GroupRef>, E>>,
{
    let mut seen = HashSet::new();
    let mut all = Vec::new();
    let mut level = Vec::new();
    let mut add = |group: GroupRef, all: &mut Vec<GroupRef>, level: &mut Vec<String>| {
        if all.len() < MAX_GROUPS && seen.insert(dn_key(&group.dn)) {
            level.push(group.dn.clone());
            all.push(group);
        }
    };
    for group in direct {
        add(group, &mut all, &mut level);
    }
    for _ in 0..depth {
        if level.is_empty() || all.len() >= MAX_GROUPS {
            break;
        }
        let parents = parents_of(std::mem::take(&mut level)).await?;
        for group in parents {
            add(group, &mut all, &mut level);
        }
    }
    if all.len() >= MAX_GROUPS {
        tracing::warn!(
            limit = MAX_GROUPS,
            "a person is in more groups than Gatehouse follows; the groups claim is cut short"
        );
    }
    Ok(all)
}

/// The `groups` claim: each group's name or DN, sorted, without duplicates.
pub(crate) fn claim_values(groups: &[GroupRef], value: GroupValue) -> Vec<String> {
    let mut values: Vec<String> = groups
        .iter()
        .map(|group| match value {
            GroupValue::Name => group.name.clone(),
            GroupValue::Dn => group.dn.clone(),
        })
        .collect();
    values.sort();
    values.dedup();
    values
}

/// The groups' DNs: sorted, one per group ([`dn_key`]), as the server spelt them.
pub(crate) fn group_dns(groups: &[GroupRef]) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut dns: Vec<String> = groups
        .iter()
        .filter(|group| seen.insert(dn_key(&group.dn)))
        .map(|group| group.dn.clone())
        .collect();
    dns.sort();
    dns
}

/// Whether `text` reads as a distinguished name (RFC 4514): one or more RDNs separated by
/// unescaped commas, each one or more `attribute=value` pairs (joined by `+`) with an
/// attribute name (`cn`, `ou`, an OID) and a value that is not empty.
pub fn is_distinguished_name(text: &str) -> bool {
    let mut pairs = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in text.trim().chars() {
        if escaped {
            escaped = false;
            current.push(c);
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                current.push(c);
            }
            ',' | '+' => pairs.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    if escaped {
        return false;
    }
    pairs.push(current);
    pairs.iter().all(|pair| {
        let Some((attribute, value)) = pair.split_once('=') else {
            return false;
        };
        let attribute = attribute.trim();
        let name = attribute.starts_with(|c: char| c.is_ascii_alphabetic())
            && attribute.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        let oid = !attribute.is_empty() && attribute.chars().all(|c| c.is_ascii_digit() || c == '.');
        (name || oid) && !value.trim().is_empty()
    })
}

/// DNs compare without regard to case or to spaces around `,` and `=`
/// (`CN=Loop A, OU=Groups` is `cn=loop a,ou=groups`), which is how servers differ in
/// spelling the same DN between an entry and a memberOf value.
pub fn dn_key(dn: &str) -> String {
    let mut key = String::with_capacity(dn.len());
    let mut chars = dn.trim().chars().peekable();
    let mut escaped = false;
    while let Some(c) = chars.next() {
        if escaped {
            escaped = false;
            key.extend(c.to_lowercase());
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                key.push(c);
            }
            ',' | '=' => {
                while key.ends_with(' ') && !key.ends_with("\\ ") {
                    key.pop();
                }
                key.push(c);
                while chars.peek() == Some(&' ') {
                    chars.next();
                }
            }
            _ => key.extend(c.to_lowercase()),
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn group(dn: &str) -> GroupRef {
        GroupRef {
            dn: dn.into(),
            name: dn.split(',').next().unwrap_or(dn).trim_start_matches("cn=").into(),
        }
    }

    /// A directory of group -> the groups it is in, with a log of the lookups made.
    struct Parents {
        of: HashMap<&'static str, Vec<&'static str>>,
        lookups: Vec<Vec<String>>,
    }

    impl Parents {
        fn new(edges: &[(&'static str, &'static str)]) -> Self {
            let mut of: HashMap<&'static str, Vec<&'static str>> = HashMap::new();
            for (child, parent) in edges {
                of.entry(child).or_default().push(parent);
            }
            Parents {
                of,
                lookups: Vec::new(),
            }
        }

        fn lookup(&mut self, level: Vec<String>) -> std::future::Ready<Result<Vec<GroupRef>, String>> {
            let parents = level
                .iter()
                .flat_map(|dn| self.of.get(dn.as_str()).cloned().unwrap_or_default())
                .map(group)
                .collect();
            self.lookups.push(level);
            std::future::ready(Ok(parents))
        }
    }

    fn names(groups: &[GroupRef]) -> Vec<String> {
        claim_values(groups, GroupValue::Name)
    }

    #[tokio::test]
    async fn a_chain_is_followed_to_the_depth_asked() {
        let chain = [("cn=a", "cn=b"), ("cn=b", "cn=c"), ("cn=c", "cn=d"), ("cn=d", "cn=e")];
        for (depth, expected) in [
            (0, vec!["a"]),
            (1, vec!["a", "b"]),
            (3, vec!["a", "b", "c", "d"]),
            (10, vec!["a", "b", "c", "d", "e"]),
        ] {
            let mut parents = Parents::new(&chain);
            let all = with_ancestors(vec![group("cn=a")], depth, |level| parents.lookup(level))
                .await
                .expect("no error");
            assert_eq!(names(&all), expected, "depth {depth}");
            assert!(parents.lookups.len() <= depth as usize);
        }
    }

    #[tokio::test]
    async fn cycles_end_and_each_group_is_looked_up_once() {
        let mut parents = Parents::new(&[("cn=a", "cn=b"), ("cn=b", "cn=a"), ("cn=b", "cn=c"), ("cn=c", "cn=b")]);
        let all = with_ancestors(vec![group("cn=a")], 20, |level| parents.lookup(level))
            .await
            .expect("no error");
        assert_eq!(names(&all), ["a", "b", "c"]);
        assert_eq!(
            parents.lookups,
            [
                vec!["cn=a".to_string()],
                vec!["cn=b".to_string()],
                vec!["cn=c".to_string()]
            ]
        );
    }

    #[tokio::test]
    async fn a_level_is_one_lookup_and_shared_parents_count_once() {
        // `CN=A` is `cn=a` spelt differently: the same group, not followed twice.
        let mut parents = Parents::new(&[("cn=a", "cn=top"), ("cn=b", "cn=top"), ("cn=b", "CN=A")]);
        let all = with_ancestors(vec![group("cn=a"), group("cn=b"), group("CN=A")], 5, |level| {
            parents.lookup(level)
        })
        .await
        .expect("no error");
        assert_eq!(names(&all), ["a", "b", "top"]);
        assert_eq!(
            parents.lookups,
            [vec!["cn=a".to_string(), "cn=b".to_string()], vec!["cn=top".to_string()]]
        );
    }

    #[tokio::test]
    async fn lookup_errors_are_passed_on() {
        let error = with_ancestors(vec![group("cn=a")], 3, |_| {
            std::future::ready(Err::<Vec<GroupRef>, _>("down".to_string()))
        })
        .await
        .expect_err("fails");
        assert_eq!(error, "down");
        // No lookup at depth 0, so nothing can fail.
        let all = with_ancestors(vec![group("cn=a")], 0, |_| {
            std::future::ready(Err::<Vec<GroupRef>, _>("down".to_string()))
        })
        .await
        .expect("no lookup");
        assert_eq!(names(&all), ["a"]);
    }

    #[tokio::test]
    async fn the_total_is_capped() {
        let direct: Vec<GroupRef> = (0..MAX_GROUPS + 5).map(|i| group(&format!("cn=g{i}"))).collect();
        let all = with_ancestors(direct, 5, |_| {
            std::future::ready(Ok::<_, String>(vec![group("cn=more")]))
        })
        .await
        .expect("no error");
        assert_eq!(all.len(), MAX_GROUPS);
    }

    #[test]
    fn claim_values_are_names_or_dns() {
        let groups = [
            GroupRef {
                dn: "cn=staff,ou=groups,dc=x".into(),
                name: "staff".into(),
            },
            GroupRef {
                dn: "cn=admins,ou=groups,dc=x".into(),
                name: "admins".into(),
            },
        ];
        assert_eq!(claim_values(&groups, GroupValue::Name), ["admins", "staff"]);
        assert_eq!(
            claim_values(&groups, GroupValue::Dn),
            ["cn=admins,ou=groups,dc=x", "cn=staff,ou=groups,dc=x"]
        );
    }

    #[test]
    fn group_dns_are_sorted_and_counted_once() {
        let groups = [group("cn=b,dc=x"), group("cn=a,dc=x"), group("CN=B, DC=x")];
        assert_eq!(group_dns(&groups), ["cn=a,dc=x", "cn=b,dc=x"]);
    }

    #[test]
    fn distinguished_names_are_told_from_names() {
        for dn in [
            "cn=gatehouse-admins,ou=groups,dc=example,dc=org",
            "CN=Admins, OU=Groups, DC=example, DC=org",
            "cn=Ops\\, Europe,dc=x",
            "cn=a+ou=b,dc=x",
            "2.5.4.3=admins,dc=x",
        ] {
            assert!(is_distinguished_name(dn), "{dn}");
        }
        for not_dn in [
            "admins",
            "",
            "cn=admins,ou groups",
            "cn=,dc=x",
            "=admins,dc=x",
            "cn=admins,,dc=x",
            "cn=trailing\\",
            "c n=x",
        ] {
            assert!(!is_distinguished_name(not_dn), "{not_dn}");
        }
    }

    #[test]
    fn dn_keys_ignore_case_and_spaces_around_separators() {
        assert_eq!(
            dn_key("CN=Loop A, OU=Groups ,DC=example,DC=org"),
            "cn=loop a,ou=groups,dc=example,dc=org"
        );
        assert_eq!(dn_key("cn = x"), "cn=x");
        assert_eq!(dn_key("CN=Ops\\, Europe,DC=x"), "cn=ops\\, europe,dc=x");
        assert_eq!(dn_key("cn=trailing\\ ,dc=x"), "cn=trailing\\ ,dc=x");
        assert_ne!(dn_key("cn=a b,dc=x"), dn_key("cn=ab,dc=x"));
    }
}
