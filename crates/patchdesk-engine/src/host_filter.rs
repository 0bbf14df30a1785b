//! Host filters (issue #14): which hosts a list shows (a search, a group, an environment, a tag),
//! and filters saved under a name in SQLite (table `host_filters`, migration 013) so the Hosts
//! view and `patchdesk host list --filter NAME` pick them again. Owns the matching rule both
//! shells use. Renders nothing.

use crate::error::{Error, Result};
use crate::host::{validate_label, Environment};
use crate::inventory::{HostSummary, Inventory};
use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};

/// Longest search text kept in a filter.
const MAX_QUERY: usize = 200;

/// Which hosts to show: every part that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HostFilter {
    /// Case-insensitive text looked for in the name, address, OS, package family, kernel, groups
    /// and tags.
    pub query: String,
    pub group: Option<String>,
    pub environment: Option<Environment>,
    pub tag: Option<String>,
}

/// A filter a person saved under a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SavedFilter {
    pub name: String,
    pub filter: HostFilter,
    pub saved_at: DateTime<Utc>,
}

impl HostFilter {
    /// Does this host pass the filter?
    pub fn matches(&self, h: &HostSummary) -> bool {
        let spec = &h.host.spec;
        if self
            .group
            .as_ref()
            .is_some_and(|g| !spec.groups.contains(g))
            || self.environment.is_some_and(|e| spec.environment != e)
            || self.tag.as_ref().is_some_and(|t| !spec.tags.contains(t))
        {
            return false;
        }
        let q = self.query.trim().to_lowercase();
        if q.is_empty() {
            return true;
        }
        let s = h.last_ok_scan.as_ref();
        let mut hay = vec![
            spec.name.as_str(),
            spec.address.as_str(),
            s.and_then(|s| s.os_pretty.as_deref()).unwrap_or(""),
            s.and_then(|s| s.family).map(|f| f.as_str()).unwrap_or(""),
            s.and_then(|s| s.kernel.as_deref()).unwrap_or(""),
        ];
        hay.extend(spec.groups.iter().map(String::as_str));
        hay.extend(spec.tags.iter().map(String::as_str));
        hay.join(" ").to_lowercase().contains(&q)
    }

    /// The filter with its text cleaned and trimmed, or a sentence saying which part to fix.
    fn checked(&self) -> Result<HostFilter> {
        let query = crate::text::clean(self.query.trim());
        if query.chars().count() > MAX_QUERY {
            return Err(Error::Invalid(format!(
                "the search text is longer than {MAX_QUERY} characters; shorten it"
            )));
        }
        let label = |l: &Option<String>| -> Result<Option<String>> {
            match l.as_deref().map(str::trim).filter(|x| !x.is_empty()) {
                None => Ok(None),
                Some(x) => validate_label(x)
                    .map(|()| Some(x.to_string()))
                    .map_err(Error::Invalid),
            }
        };
        Ok(HostFilter {
            query,
            group: label(&self.group)?,
            environment: self.environment,
            tag: label(&self.tag)?,
        })
    }
}

/// A filter's name: 1 to 64 characters, no control characters.
fn check_name(name: &str) -> Result<String> {
    let n = crate::text::clean(name.trim());
    if n.is_empty() || n.chars().count() > 64 {
        return Err(Error::Invalid(
            "name the filter (1 to 64 characters), e.g. \"prod web\"".into(),
        ));
    }
    Ok(n)
}

/// Save (or replace) a filter under a name.
pub fn save(inv: &Inventory, name: &str, filter: &HostFilter) -> Result<SavedFilter> {
    let name = check_name(name)?;
    let filter = filter.checked()?;
    let saved_at = inv.clock().now();
    inv.conn().execute(
        "INSERT INTO host_filters (name, query, group_name, environment, tag, saved_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(name) DO UPDATE SET query = ?2, group_name = ?3, environment = ?4, tag = ?5, saved_at = ?6",
        params![
            name,
            filter.query,
            filter.group,
            filter.environment.map(Environment::as_str),
            filter.tag,
            saved_at.to_rfc3339(),
        ],
    )?;
    Ok(SavedFilter {
        name,
        filter,
        saved_at,
    })
}

/// Every saved filter, by name.
pub fn list(inv: &Inventory) -> Result<Vec<SavedFilter>> {
    let mut stmt = inv.conn().prepare_cached(
        "SELECT name, query, group_name, environment, tag, saved_at FROM host_filters ORDER BY name",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(name, query, group, env, tag, at)| {
            // An unknown stored name is an error, never a default.
            let environment = match env.as_deref() {
                None => None,
                Some(e) if e == Environment::Prod.as_str() => Some(Environment::Prod),
                Some(e) if e == Environment::NonProd.as_str() => Some(Environment::NonProd),
                Some(e) => {
                    return Err(Error::Invalid(format!(
                        "saved filter {name:?}: unknown stored environment {e:?}"
                    )))
                }
            };
            let saved_at = DateTime::parse_from_rfc3339(&at)
                .map_err(|e| Error::Invalid(format!("saved filter {name:?}: time {at:?}: {e}")))?
                .with_timezone(&Utc);
            Ok(SavedFilter {
                name,
                filter: HostFilter {
                    query,
                    group,
                    environment,
                    tag,
                },
                saved_at,
            })
        })
        .collect()
}

/// One saved filter by name.
pub fn get(inv: &Inventory, name: &str) -> Result<SavedFilter> {
    list(inv)?
        .into_iter()
        .find(|f| f.name == name.trim())
        .ok_or_else(|| {
            Error::Invalid(format!(
                "no saved filter is named {name:?}; the Hosts view lists the saved ones"
            ))
        })
}

/// Delete a saved filter (the hosts are not touched).
pub fn delete(inv: &Inventory, name: &str) -> Result<()> {
    let n = inv
        .conn()
        .execute("DELETE FROM host_filters WHERE name = ?1", [name.trim()])?;
    if n == 0 {
        return Err(Error::Invalid(format!(
            "no saved filter is named {name:?}; nothing was deleted"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::HostSpec;

    #[test]
    fn a_saved_filter_is_read_back_and_picks_the_hosts_it_names() {
        let (mut inv, _) = crate::inventory::test_util::inv();
        let mut a = HostSpec::new("web-01", "10.0.0.1");
        a.tags = vec!["pci".into()];
        a.groups = vec!["web".into()];
        let mut b = HostSpec::new("db-01", "10.0.0.2");
        b.environment = Environment::NonProd;
        b.groups = vec!["db".into()];
        inv.add_hosts(&[a, b], false).unwrap();
        let f = HostFilter {
            query: " 10.0.0 ".into(),
            tag: Some("pci".into()),
            environment: Some(Environment::Prod),
            group: None,
        };
        let saved = save(&inv, " pci prod ", &f).unwrap();
        assert_eq!(saved.name, "pci prod");
        assert_eq!(saved.filter.query, "10.0.0");
        let back = get(&inv, "pci prod").unwrap();
        assert_eq!(back, saved);
        let hosts = inv.host_summaries().unwrap();
        let picked: Vec<_> = hosts
            .iter()
            .filter(|h| back.filter.matches(h))
            .map(|h| h.host.spec.name.as_str())
            .collect();
        assert_eq!(picked, ["web-01"]);
        // Replaced under the same name; a search by tag text finds the host too.
        let g = HostFilter {
            query: "PCI".into(),
            ..HostFilter::default()
        };
        save(&inv, "pci prod", &g).unwrap();
        assert_eq!(list(&inv).unwrap().len(), 1);
        assert!(hosts
            .iter()
            .any(|h| h.host.spec.name == "web-01"
                && get(&inv, "pci prod").unwrap().filter.matches(h)));
        delete(&inv, "pci prod").unwrap();
        assert!(list(&inv).unwrap().is_empty());
        assert!(delete(&inv, "pci prod").is_err());
    }

    #[test]
    fn bad_names_and_labels_are_refused_with_a_sentence() {
        let (inv, _) = crate::inventory::test_util::inv();
        assert!(save(&inv, "  ", &HostFilter::default()).is_err());
        let bad = HostFilter {
            tag: Some("no way!".into()),
            ..HostFilter::default()
        };
        let e = save(&inv, "x", &bad).unwrap_err().to_string();
        assert!(e.contains("not a valid group or tag"), "{e}");
        let stored = inv.conn().execute(
            "INSERT INTO host_filters (name, query, environment, saved_at) VALUES ('odd', '', 'staging', '2026-11-24T12:00:00+00:00')",
            [],
        );
        assert!(stored.is_ok());
        assert!(
            list(&inv).is_err(),
            "an unknown stored environment is an error"
        );
    }
}
