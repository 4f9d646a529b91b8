//! The org model: a corp (one brand on one WeCom corp), its stores and its
//! staff. Drafts are what people type; `validate` turns them into clean values.

use crate::error::{Checker, ValidationError};
use crate::Millis;
use serde::{Deserialize, Serialize};

/// A tenant. The WeCom secrets are kept for the protocol and never shown back
/// in full (see [`crate::secret::mask`]), nor printed by `Debug`.
#[derive(Clone, PartialEq)]
pub struct Corp {
    pub id: i64,
    pub name: String,
    pub wecom_corp_id: String,
    pub app_secret: String,
    pub callback_token: String,
    pub encoding_aes_key: String,
    pub created_at: Millis,
}

#[derive(Clone, Default, Deserialize)]
pub struct CorpDraft {
    pub name: String,
    pub wecom_corp_id: String,
    pub app_secret: String,
    pub callback_token: String,
    pub encoding_aes_key: String,
}

impl std::fmt::Debug for Corp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Corp")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("wecom_corp_id", &self.wecom_corp_id)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for CorpDraft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CorpDraft")
            .field("name", &self.name)
            .field("wecom_corp_id", &self.wecom_corp_id)
            .finish_non_exhaustive()
    }
}

impl CorpDraft {
    pub fn validate(self) -> Result<CorpDraft, ValidationError> {
        let mut c = Checker::default();
        let name = c.text("name", &self.name, 64, true);
        let wecom_corp_id = c.ident("corp_id", &self.wecom_corp_id, 64, &['_', '-']);
        let app_secret = c.ident("secret", &self.app_secret, 128, &['_', '-']);
        // WeCom's console only accepts these shapes; catching them here saves
        // an operator from a callback URL that can never verify.
        let callback_token = c.ident("token", &self.callback_token, 32, &[]);
        let key = self.encoding_aes_key.trim().to_string();
        if key.len() != 43 || !key.chars().all(|ch| ch.is_ascii_alphanumeric()) {
            c.push("aes_key", "invalid_aes_key", "EncodingAESKey must be 43 letters and digits");
        }
        c.finish(CorpDraft { name, wecom_corp_id, app_secret, callback_token, encoding_aes_key: key })
    }
}

/// A physical store (门店).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Store {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub address: String,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    /// Sales region, e.g. 华东.
    pub region: String,
    /// Store type, e.g. flagship, mall, outlet.
    pub kind: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct StoreDraft {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub lng: Option<f64>,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub kind: String,
}

impl StoreDraft {
    pub fn validate(self) -> Result<StoreDraft, ValidationError> {
        let mut c = Checker::default();
        let code = c.ident("code", &self.code, 32, &['_', '-']);
        let name = c.text("name", &self.name, 64, true);
        let address = c.text("address", &self.address, 200, false);
        let region = c.text("region", &self.region, 32, false);
        let kind = c.text("kind", &self.kind, 32, false);
        check_coordinate(&mut c, "lat", self.lat, 90.0);
        check_coordinate(&mut c, "lng", self.lng, 180.0);
        if self.lat.is_some() != self.lng.is_some() {
            c.push("lat", "incomplete_location", "give both lat and lng, or neither");
        }
        c.finish(StoreDraft { code, name, address, lat: self.lat, lng: self.lng, region, kind })
    }
}

fn check_coordinate(c: &mut Checker, field: &str, value: Option<f64>, limit: f64) {
    if let Some(v) = value {
        if !v.is_finite() || v.abs() > limit {
            c.push(field, "out_of_range", format!("{field} must be between -{limit} and {limit}"));
        }
    }
}

/// A WeCom member (员工/导购), identified in WeCom by `userid`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Staff {
    pub id: i64,
    pub userid: String,
    pub name: String,
    pub mobile: String,
    pub active: bool,
    pub store_ids: Vec<i64>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct StaffDraft {
    pub userid: String,
    pub name: String,
    #[serde(default)]
    pub mobile: String,
    #[serde(default = "yes")]
    pub active: bool,
    /// Store ids this member works in.
    #[serde(default)]
    pub store_ids: Vec<i64>,
}

fn yes() -> bool {
    true
}

impl StaffDraft {
    pub fn validate(self) -> Result<StaffDraft, ValidationError> {
        let mut c = Checker::default();
        let userid = c.ident("userid", &self.userid, 64, &['_', '-', '.', '@']);
        let name = c.text("name", &self.name, 64, true);
        let mobile = c.text("mobile", &self.mobile, 20, false);
        if !mobile.chars().all(|ch| ch.is_ascii_digit() || ch == '+' || ch == '-') {
            c.push("mobile", "invalid_chars", "mobile may contain only digits, + and -");
        }
        let mut store_ids = self.store_ids;
        store_ids.sort_unstable();
        store_ids.dedup();
        c.finish(StaffDraft { userid, name, mobile, active: self.active, store_ids })
    }
}

/// A member as WeCom's address book lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryMember {
    pub userid: String,
    pub name: String,
}

/// What syncing staff with WeCom's address book changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffSync {
    /// In WeCom, not yet in koi: added, active, bound to no store.
    pub added: Vec<DirectoryMember>,
    /// (staff id, WeCom's name) for members whose name changed.
    pub renamed: Vec<(i64, String)>,
    /// Active members WeCom no longer lists: marked inactive, their history
    /// (follows, customers, codes) kept. A member marked inactive in koi
    /// stays so while WeCom lists them: an operator may have meant it.
    pub deactivated: Vec<i64>,
}

impl StaffSync {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.renamed.is_empty() && self.deactivated.is_empty()
    }
}

/// Compares koi's staff with the address book. Each userid counts once
/// (a member in two departments is listed twice).
pub fn plan_staff_sync(staff: &[Staff], directory: &[DirectoryMember]) -> StaffSync {
    let mut seen = std::collections::HashSet::new();
    let mut plan = StaffSync::default();
    for m in directory {
        if !seen.insert(m.userid.as_str()) {
            continue;
        }
        match staff.iter().find(|s| s.userid == m.userid) {
            None => plan.added.push(m.clone()),
            Some(s) if s.name != m.name && !m.name.trim().is_empty() => plan.renamed.push((s.id, m.name.clone())),
            Some(_) => {}
        }
    }
    plan.deactivated = staff.iter().filter(|s| s.active && !seen.contains(s.userid.as_str())).map(|s| s.id).collect();
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staff_sync_adds_renames_and_deactivates() {
        let member = |id: i64, userid: &str, name: &str, active: bool| Staff {
            id,
            userid: userid.into(),
            name: name.into(),
            mobile: String::new(),
            active,
            store_ids: vec![1],
            created_at: 0,
            updated_at: 0,
        };
        let staff = [
            member(1, "wang", "王芳", true),
            member(2, "li", "李娜", true),
            member(3, "gone", "离职", true),
            member(4, "paused", "停用", false),
            member(5, "left.before", "早已离职", false),
        ];
        let dir = |userid: &str, name: &str| DirectoryMember { userid: userid.into(), name: name.into() };
        let directory =
            [dir("wang", "王芳"), dir("li", "李娜娜"), dir("new", "新人"), dir("new", "新人"), dir("paused", "停用")];
        let plan = plan_staff_sync(&staff, &directory);
        assert_eq!(plan.added, [dir("new", "新人")], "once, though listed in two departments");
        assert_eq!(plan.renamed, [(2, "李娜娜".to_string())]);
        assert_eq!(plan.deactivated, [3], "only active members WeCom no longer lists");
        assert!(plan_staff_sync(&staff[..2], &[dir("wang", "王芳"), dir("li", "李娜")]).is_empty());
    }

    fn store() -> StoreDraft {
        StoreDraft {
            code: "SH-001".into(),
            name: " 静安店 ".into(),
            lat: Some(31.22),
            lng: Some(121.45),
            ..Default::default()
        }
    }

    #[test]
    fn a_good_store_is_trimmed_and_kept() {
        let s = store().validate().expect("valid store");
        assert_eq!(s.name, "静安店");
    }

    #[test]
    fn a_bad_latitude_names_the_field() {
        let err = StoreDraft { lat: Some(91.0), ..store() }.validate().unwrap_err();
        assert_eq!(err.0[0].field, "lat");
        assert_eq!(err.0[0].code, "out_of_range");
        let err = StoreDraft { lng: Some(f64::NAN), ..store() }.validate().unwrap_err();
        assert_eq!(err.0[0].field, "lng");
    }

    #[test]
    fn all_problems_are_reported_at_once() {
        let err = StoreDraft { code: "a b".into(), name: "".into(), lat: None, ..store() }.validate().unwrap_err();
        let fields: Vec<_> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["code", "name", "lat"]);
    }

    #[test]
    fn names_count_characters_not_bytes() {
        let long_cjk = "店".repeat(64);
        assert!(StoreDraft { name: long_cjk.clone(), ..store() }.validate().is_ok());
        assert!(StoreDraft { name: format!("{long_cjk}店"), ..store() }.validate().is_err());
    }

    #[test]
    fn staff_userids_are_ascii() {
        let ok = StaffDraft { userid: "li.na@01".into(), name: "李娜".into(), active: true, ..Default::default() };
        assert!(ok.validate().is_ok());
        let bad = StaffDraft { userid: "李娜".into(), name: "李娜".into(), ..Default::default() };
        assert_eq!(bad.validate().unwrap_err().0[0].code, "invalid_chars");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let d =
            CorpDraft { app_secret: "TOPSECRET".into(), encoding_aes_key: "AESKEYAESKEY".into(), ..Default::default() };
        let shown = format!("{d:?}");
        assert!(!shown.contains("TOPSECRET") && !shown.contains("AESKEY"), "{shown}");
    }

    #[test]
    fn corp_credentials_are_checked() {
        let good = CorpDraft {
            name: "示例鞋履".into(),
            wecom_corp_id: "ww0123456789abcdef".into(),
            app_secret: "s3cr3t".into(),
            callback_token: "QDG6eK".into(),
            encoding_aes_key: "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C".into(),
        };
        assert!(good.clone().validate().is_ok());
        let bad = CorpDraft { encoding_aes_key: "short".into(), ..good };
        assert_eq!(bad.validate().unwrap_err().0[0].field, "aes_key");
    }
}
