//! Saved selections: "what to deploy" by name (packages, CVEs, a bucket), so a recurring patch
//! set is planned the same way every cycle. Owns the `selection:*` settings; plans nothing.

use super::*;

const SELECTION_PREFIX: &str = "selection:";

/// What to deploy, saved under a name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Selection {
    pub name: String,
    pub packages: Vec<String>,
    pub cves: Vec<String>,
    pub bucket: Option<Bucket>,
}

/// A CVE id as MITRE writes it: `CVE-YYYY-NNNN…`.
pub(super) fn valid_cve(s: &str) -> bool {
    let mut it = s.splitn(3, '-');
    matches!(
        (it.next(), it.next(), it.next()),
        (Some(c), Some(y), Some(n)) if c.eq_ignore_ascii_case("cve")
            && y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit())
            && (4..=19).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit())
    )
}

pub fn save_selection(inv: &Inventory, sel: &Selection) -> Result<()> {
    crate::host::validate_label(&sel.name).map_err(Error::Invalid)?;
    if sel.packages.is_empty() && sel.cves.is_empty() && sel.bucket.is_none() {
        return Err(Error::Invalid(
            "a selection needs packages, CVEs or a bucket".into(),
        ));
    }
    if let Some(p) = sel.packages.iter().find(|p| !valid_package(p)) {
        return Err(Error::Invalid(format!(
            "{p:?} is not a Debian package name"
        )));
    }
    if let Some(c) = sel.cves.iter().find(|c| !valid_cve(c)) {
        return Err(Error::Invalid(format!(
            "{c:?} is not a CVE id (CVE-2026-12345)"
        )));
    }
    inv.set_setting_json(&format!("{SELECTION_PREFIX}{}", sel.name), sel)
}

pub fn selection(inv: &Inventory, name: &str) -> Result<Selection> {
    inv.setting(&format!("{SELECTION_PREFIX}{name}"))?
        .and_then(|j| serde_json::from_str(&j).ok())
        .ok_or_else(|| {
            Error::Invalid(format!(
                "no saved selection {name:?}; `patchdesk deploy selection list` shows them"
            ))
        })
}

pub fn selections(inv: &Inventory) -> Result<Vec<Selection>> {
    Ok(inv
        .settings_with_prefix(SELECTION_PREFIX)?
        .iter()
        .filter_map(|(_, j)| serde_json::from_str(j).ok())
        .collect())
}

pub fn delete_selection(inv: &Inventory, name: &str) -> Result<()> {
    inv.remove_setting(&format!("{SELECTION_PREFIX}{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::test_util::inv;

    #[test]
    fn selections_round_trip_and_refuse_bad_values() {
        let (inv, _) = inv();
        let sel = Selection {
            name: "monthly-web".into(),
            packages: vec!["openssl".into()],
            cves: vec!["CVE-2026-12345".into()],
            bucket: Some(Bucket::Critical),
        };
        save_selection(&inv, &sel).unwrap();
        assert_eq!(selection(&inv, "monthly-web").unwrap(), sel);
        assert_eq!(selections(&inv).unwrap(), vec![sel.clone()]);
        for bad in [
            Selection {
                cves: vec!["CVE-26-1".into()],
                ..sel.clone()
            },
            Selection {
                packages: vec!["rm -rf /".into()],
                ..sel.clone()
            },
            Selection {
                name: "a b".into(),
                ..sel.clone()
            },
            Selection {
                packages: vec![],
                cves: vec![],
                bucket: None,
                ..sel.clone()
            },
        ] {
            assert!(save_selection(&inv, &bad).is_err(), "{bad:?}");
        }
        assert_eq!(selections(&inv).unwrap().len(), 1, "nothing bad was stored");
        delete_selection(&inv, "monthly-web").unwrap();
        assert!(selection(&inv, "monthly-web").is_err());
        assert!(
            valid_cve("cve-2024-3094") && !valid_cve("CVE-2024-") && !valid_cve("CVE-2024-1;id")
        );
    }
}
