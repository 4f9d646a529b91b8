//! WeCom corp tags (企业标签) as koi mirrors them: the limits WeCom enforces
//! (CONTRACT: a tag name is at most 30 characters, a corp at most 3000
//! tags), and the reconcile that makes koi's copy equal WeCom's list after an
//! operator edited tags in WeCom's own admin.

use crate::error::Checker;
use crate::ValidationError;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// Longest tag (or tag group) name WeCom accepts, in characters.
pub const MAX_TAG_NAME: usize = 30;
/// Most corp tags WeCom keeps for one corp.
pub const MAX_CORP_TAGS: usize = 3000;

/// Checks a tag or tag group name and returns it trimmed: 1..=30 characters
/// (characters, not bytes: `敏感肌` is 3), no control characters, which
/// WeCom refuses and which would break the console's lists.
pub fn validate_tag_name(field: &str, name: &str) -> Result<String, ValidationError> {
    let mut c = Checker::default();
    let name = c.text(field, name, MAX_TAG_NAME, true);
    if name.chars().any(char::is_control) {
        c.push(field, "invalid_chars", format!("{field} may not contain control characters"));
    }
    c.finish(name)
}

/// One tag with its group, as listed by `externalcontact/get_corp_tag_list`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TagSnapshot {
    pub group_id: String,
    pub group_name: String,
    pub group_order: i64,
    pub tag_id: String,
    pub name: String,
    pub order: i64,
}

/// What to write to make koi's tags equal WeCom's.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TagDiff {
    /// New tags and tags whose name, order or group changed, in WeCom's order.
    pub upsert: Vec<TagSnapshot>,
    /// Ids of koi's tags that WeCom no longer has, in koi's order.
    pub delete: Vec<String>,
}

impl TagDiff {
    pub fn is_empty(&self) -> bool {
        self.upsert.is_empty() && self.delete.is_empty()
    }
}

/// The upserts and deletions that turn `koi` into `wecom`. WeCom is the
/// truth: only tags that are new or differ in any field are upserted (a
/// reconcile that changes nothing writes nothing), and a tag id listed twice
/// counts once, first listing wins.
pub fn diff_tags(koi: &[TagSnapshot], wecom: &[TagSnapshot]) -> TagDiff {
    // Reversed, so that the first of a duplicated id is the one kept.
    let ours: HashMap<&str, &TagSnapshot> = koi.iter().rev().map(|t| (t.tag_id.as_str(), t)).collect();
    let mut seen = HashSet::new();
    let upsert = wecom
        .iter()
        .filter(|t| seen.insert(t.tag_id.as_str()))
        .filter(|t| ours.get(t.tag_id.as_str()) != Some(t))
        .cloned()
        .collect();
    let mut gone = HashSet::new();
    let delete = koi
        .iter()
        .map(|t| t.tag_id.as_str())
        .filter(|id| !seen.contains(id) && gone.insert(*id))
        .map(str::to_string)
        .collect();
    TagDiff { upsert, delete }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(group: &str, id: &str, name: &str, order: i64) -> TagSnapshot {
        TagSnapshot {
            group_id: group.into(),
            group_name: format!("group {group}"),
            group_order: 1,
            tag_id: id.into(),
            name: name.into(),
            order,
        }
    }

    #[test]
    fn names_count_characters_not_bytes() {
        assert_eq!(validate_tag_name("name", "  敏感肌 ").unwrap(), "敏感肌");
        assert!(validate_tag_name("name", &"肌".repeat(30)).is_ok());
        let codes = |s: &str| -> Vec<String> {
            validate_tag_name("tag", s).unwrap_err().0.into_iter().map(|e| e.code).collect()
        };
        assert_eq!(codes(&"肌".repeat(31)), ["too_long"]);
        assert_eq!(codes(" \t "), ["required"]);
        assert_eq!(codes("VIP\n会员"), ["invalid_chars"]);
        assert_eq!(validate_tag_name("tag", "").unwrap_err().0[0].field, "tag");
    }

    #[test]
    fn diff_upserts_changes_and_deletes_the_missing() {
        let koi = [
            tag("g1", "et1", "干性", 1),
            tag("g1", "et2", "油性", 2),
            tag("g2", "et3", "VIP", 1),
            tag("g2", "et4", "旧标签", 2),
        ];
        let mut moved = tag("g3", "et3", "VIP", 1);
        moved.group_name = "会员".into();
        let wecom = [
            tag("g1", "et1", "干性", 1),     // unchanged
            tag("g1", "et2", "油性皮肤", 2), // renamed
            moved.clone(),                   // moved to another group
            tag("g1", "et5", "混合", 3),     // new
        ];
        let d = diff_tags(&koi, &wecom);
        assert_eq!(d.upsert, [tag("g1", "et2", "油性皮肤", 2), moved, tag("g1", "et5", "混合", 3)]);
        assert_eq!(d.delete, ["et4"]);
    }

    #[test]
    fn diff_of_equal_lists_is_empty_and_order_changes_count() {
        let koi = [tag("g1", "et1", "a", 1), tag("g1", "et2", "b", 2)];
        assert!(diff_tags(&koi, &koi).is_empty());
        let mut reordered = koi.clone();
        reordered[0].order = 3;
        reordered[1].group_order = 9;
        assert_eq!(diff_tags(&koi, &reordered).upsert, reordered);
        assert_eq!(diff_tags(&[], &koi).upsert, koi);
        assert_eq!(diff_tags(&koi, &[]), TagDiff { upsert: vec![], delete: vec!["et1".into(), "et2".into()] });
    }

    #[test]
    fn duplicates_count_once() {
        let koi = [tag("g1", "et1", "a", 1), tag("g1", "et9", "z", 1), tag("g1", "et9", "z", 1)];
        let wecom = [tag("g1", "et1", "b", 1), tag("g1", "et1", "c", 1)];
        let d = diff_tags(&koi, &wecom);
        assert_eq!(d.upsert, [tag("g1", "et1", "b", 1)]);
        assert_eq!(d.delete, ["et9"]);
    }
}
