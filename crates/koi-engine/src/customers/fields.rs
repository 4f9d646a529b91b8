//! Custom fields (birthday, skin type, shoe size…) the operator defines and
//! guides fill in, a customer's home location (for "within 5 km of store
//! 2"), and the corp's value rules (stages, RFM, influence).

use super::{SweepJob, VALUE_RULES_KEY};
use crate::jobs::enqueue;
use crate::{actor, require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::customer::{FieldDef, FieldKind, ValueRules, MAX_FIELDS};
use koi_domain::error::Checker;
use koi_domain::ValidationError;
use koi_store::events::NewEvent;
use koi_store::now_ms;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldDefView {
    pub name: String,
    pub label: String,
    #[schema(value_type = Object)]
    pub kind: FieldKind,
}

impl Engine {
    pub async fn field_defs(&self, who: &Principal) -> Result<Vec<FieldDefView>> {
        require(who, Action::ViewCustomers)?;
        Ok(self
            .defs(who.corp_id)
            .await?
            .into_iter()
            .map(|d| FieldDefView { name: d.name, label: d.label, kind: d.kind })
            .collect())
    }

    pub(crate) async fn defs(&self, corp_id: i64) -> Result<Vec<FieldDef>> {
        let rows = self.db.field_defs(corp_id).await?;
        rows.into_iter()
            .map(|r| {
                let kind = serde_json::from_str(&r.kind)
                    .map_err(|e| EngineError::Unavailable(format!("stored field {}: {e}", r.name)))?;
                Ok(FieldDef { name: r.name, label: r.label, kind })
            })
            .collect()
    }

    pub async fn define_field(&self, who: &Principal, def: FieldDef) -> Result<FieldDefView> {
        require(who, Action::ManageCustomerModel)?;
        def.validate()?;
        if self.db.field_defs(who.corp_id).await?.len() >= MAX_FIELDS {
            return Err(ValidationError::one("name", "too_many", format!("at most {MAX_FIELDS} custom fields")).into());
        }
        let kind = serde_json::to_string(&def.kind).expect("a field kind is plain data and serialises");
        match self.db.insert_field_def(who.corp_id, &def.name, &def.label, &kind, now_ms()).await? {
            Some(_) => Ok(FieldDefView { name: def.name, label: def.label, kind: def.kind }),
            None => Err(EngineError::Conflict { what: "field_name" }),
        }
    }

    pub async fn delete_field(&self, who: &Principal, name: &str) -> Result<()> {
        require(who, Action::ManageCustomerModel)?;
        if self.db.delete_field_def(who.corp_id, name).await? {
            Ok(())
        } else {
            Err(EngineError::NotFound("field"))
        }
    }

    /// Sets custom fields of a customer (`None` clears one); every value is
    /// checked against its definition and all errors come back at once.
    /// Also sets the home location when given.
    pub async fn set_customer_fields(
        &self,
        who: &Principal,
        customer_id: i64,
        values: &BTreeMap<String, Option<String>>,
        home: Option<Option<(f64, f64)>>,
    ) -> Result<()> {
        require(who, Action::TagCustomers)?;
        self.customer(who, customer_id).await?; // visibility
        let defs = self.defs(who.corp_id).await?;
        let mut c = Checker::default();
        let mut clean = Vec::new();
        for (name, value) in values {
            let Some(def) = defs.iter().find(|d| &d.name == name) else {
                c.push(name, "unknown_field", format!("no custom field {name:?}; define it first"));
                continue;
            };
            match value.as_deref().map(str::trim) {
                None | Some("") => clean.push((name.clone(), None)),
                Some(v) => match def.normalize(v) {
                    Ok(v) => clean.push((name.clone(), Some(v))),
                    Err(e) => c.extend(e),
                },
            }
        }
        if let Some(Some((lat, lng))) = home {
            if !((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lng)) {
                c.push("home", "out_of_range", "home is not a latitude and longitude");
            }
        }
        c.finish(())?;
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        for (name, value) in &clean {
            tx.set_customer_field(who.corp_id, customer_id, name, value.as_deref(), now).await?;
        }
        if let Some(home) = home {
            let mut row =
                tx.customer_activity(who.corp_id, customer_id).await?.ok_or(EngineError::NotFound("customer"))?;
            (row.home_lat, row.home_lng) = (home.map(|h| h.0), home.map(|h| h.1));
            tx.set_customer_activity(who.corp_id, &row).await?;
        }
        let payload = serde_json::json!({ "fields": values, "home": home });
        let e = NewEvent {
            corp_id: who.corp_id,
            kind: "customer.fields_set",
            subject: &format!("customer:{customer_id}"),
            actor: &actor(who),
            payload: &payload.to_string(),
            dedup_key: None,
            occurred_at: now,
        };
        tx.append_event(&e, now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn value_rules(&self, who: &Principal) -> Result<ValueRules> {
        require(who, Action::ViewCustomers)?;
        self.value_rules_of(who.corp_id).await
    }

    /// Replaces the value rules and recomputes every customer in the
    /// background (a sweep job).
    pub async fn set_value_rules(&self, who: &Principal, rules: &ValueRules) -> Result<()> {
        require(who, Action::ManageCustomerModel)?;
        rules.validate()?;
        let json = serde_json::to_string(rules).expect("value rules are plain data and serialise");
        let mut tx = self.db.begin().await?;
        tx.set_corp_setting(who.corp_id, VALUE_RULES_KEY, &json, now_ms()).await?;
        enqueue(&mut tx, who.corp_id, &SweepJob {}).await?;
        tx.commit().await?;
        Ok(())
    }
}
