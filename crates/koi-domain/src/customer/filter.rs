//! Which customers a list shows: the console's customer list and
//! `GET /api/v1/customers` read it, the store turns it into SQL. A store
//! manager's store scope is not part of it: the engine adds the caller's own
//! scope beside it, so no caller can widen it.

use crate::segment::Stage;
use crate::ValidationError;

/// Each set field must hold; the follow fields (code, store, staff,
/// returning, lost) must hold for one of the customer's follows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerFilter {
    pub code_id: Option<i64>,
    pub store_id: Option<i64>,
    pub staff_id: Option<i64>,
    /// `Some(true)` returning, `Some(false)` new.
    pub returning: Option<bool>,
    /// Only customers who deleted a guide or were deleted (流失).
    pub lost: bool,
    /// Text in the name, a guide's remark or phone, or the exact external id.
    pub search: Option<String>,
    /// Only customers with this WeCom tag (`et…`).
    pub tag_id: Option<String>,
    /// Only customers at this lifecycle stage (`new`, `stored`, `active`,
    /// `converted`, `super`).
    pub stage: Option<String>,
}

impl CustomerFilter {
    /// Refuses a stage koi does not know (an unknown one would quietly
    /// match no one).
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self.stage.as_deref().filter(|s| !s.is_empty()) {
            Some(s) if Stage::from_name(s).is_none() => {
                let msg = format!("unknown stage {s:?}: one of new, stored, active, converted, super");
                Err(ValidationError::one("stage", "unknown_stage", msg))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CustomerFilter;

    #[test]
    fn an_unknown_stage_is_refused() {
        let with = |s: &str| CustomerFilter { stage: Some(s.into()), ..Default::default() };
        assert!(with("bogus").validate().is_err());
        assert!(with("converted").validate().is_ok());
        assert!(with("").validate().is_ok(), "empty is no filter");
        assert!(CustomerFilter::default().validate().is_ok());
    }
}
