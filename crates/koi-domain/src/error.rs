//! Validation errors that point at the offending field, so a form or an API
//! client can show the message next to the right input.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field's name as the API spells it (`lat`, `code`, …).
    pub field: String,
    /// Stable snake_case code (`out_of_range`, `too_long`, …).
    pub code: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self { field: field.into(), code: code.into(), message: message.into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid input: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
pub struct ValidationError(pub Vec<FieldError>);

impl ValidationError {
    pub fn one(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self(vec![FieldError::new(field, code, message)])
    }
}

/// Collects field errors while a draft is checked, so the caller sees all of
/// them at once instead of fixing one per round trip.
#[derive(Default)]
pub struct Checker(Vec<FieldError>);

impl Checker {
    /// Takes in every field error of a check made elsewhere.
    pub fn extend(&mut self, e: ValidationError) {
        self.0.extend(e.0);
    }

    pub fn push(&mut self, field: &str, code: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, code, message));
    }

    /// Trims `value` and checks it is 1..=max characters (or 0..=max when optional).
    pub fn text(&mut self, field: &str, value: &str, max: usize, required: bool) -> String {
        let v = value.trim();
        if required && v.is_empty() {
            self.push(field, "required", format!("{field} is required"));
        }
        let n = v.chars().count();
        if n > max {
            self.push(field, "too_long", format!("{field} is {n} characters; at most {max}"));
        }
        v.to_string()
    }

    /// Identifiers are ASCII so they survive CSVs, URLs and WeCom unchanged.
    pub fn ident(&mut self, field: &str, value: &str, max: usize, extra: &[char]) -> String {
        let v = self.text(field, value, max, true);
        if !v.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(&c)) {
            let allowed: String = extra.iter().collect();
            self.push(field, "invalid_chars", format!("{field} may contain only letters, digits and {allowed}"));
        }
        v
    }

    pub fn finish<T>(self, value: T) -> Result<T, ValidationError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(ValidationError(self.0))
        }
    }
}
