//! Bulk import rules for stores and staff. The engine reads the CSV; here each
//! row becomes a validated draft or a row error. An import is all or nothing:
//! one bad row and nothing is written, and the report lists every bad row.

use crate::error::FieldError;
use crate::org::{StaffDraft, StoreDraft};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// One problem in one row. `line` is the line number in the file as a
/// spreadsheet shows it (the header is line 1).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RowError {
    pub line: usize,
    pub field: String,
    pub code: String,
    pub message: String,
}

impl RowError {
    pub(crate) fn new(line: usize, e: FieldError) -> Self {
        Self { line, field: e.field, code: e.code, message: e.message }
    }
}

/// What an import did, or would have done.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub errors: Vec<RowError>,
}

const STORE_COLUMNS: &[(&str, &[&str])] = &[
    ("code", &["门店编码", "编码"]),
    ("name", &["门店名称", "名称"]),
    ("address", &["地址"]),
    ("lat", &["纬度", "latitude"]),
    ("lng", &["经度", "longitude", "lon"]),
    ("region", &["区域", "大区"]),
    ("kind", &["类型", "type"]),
];

const STAFF_COLUMNS: &[(&str, &[&str])] = &[
    ("userid", &["账号", "user_id"]),
    ("name", &["姓名"]),
    ("mobile", &["手机", "手机号"]),
    ("stores", &["门店", "门店编码", "store_codes"]),
    ("active", &["在职"]),
];

/// Maps each header to a canonical column, accepting the Chinese names
/// operators use in their spreadsheets.
pub(crate) fn columns(
    headers: &[String],
    known: &[(&'static str, &[&str])],
    required: &[&str],
) -> Result<HashMap<&'static str, usize>, Vec<RowError>> {
    let mut map = HashMap::new();
    let mut errors = Vec::new();
    for (i, raw) in headers.iter().enumerate() {
        let h = raw.trim().trim_start_matches('\u{feff}').to_lowercase();
        let found = known.iter().find(|(name, aliases)| *name == h || aliases.contains(&h.as_str()));
        match found {
            Some((name, _)) => {
                if map.insert(*name, i).is_some() {
                    errors.push(RowError {
                        line: 1,
                        field: raw.clone(),
                        code: "duplicate_column".into(),
                        message: format!("the header names the {name} column twice"),
                    });
                }
            }
            None => errors.push(RowError {
                line: 1,
                field: raw.clone(),
                code: "unknown_column".into(),
                message: format!(
                    "unknown column {raw:?}; known: {}",
                    known.iter().map(|k| k.0).collect::<Vec<_>>().join(", ")
                ),
            }),
        }
    }
    for r in required {
        if !map.contains_key(r) {
            errors.push(RowError {
                line: 1,
                field: (*r).into(),
                code: "missing_column".into(),
                message: format!("the header has no {r} column"),
            });
        }
    }
    if errors.is_empty() {
        Ok(map)
    } else {
        Err(errors)
    }
}

pub(crate) fn cell<'a>(row: &'a [String], cols: &HashMap<&str, usize>, name: &str) -> &'a str {
    cols.get(name).and_then(|&i| row.get(i)).map(|s| s.trim()).unwrap_or("")
}

fn number(line: usize, field: &str, text: &str, errors: &mut Vec<RowError>) -> Option<f64> {
    if text.is_empty() {
        return None;
    }
    match text.parse::<f64>() {
        Ok(v) => Some(v),
        Err(_) => {
            errors.push(RowError {
                line,
                field: field.into(),
                code: "not_a_number".into(),
                message: format!("{field} {text:?} is not a number"),
            });
            None
        }
    }
}

/// Validates store rows. Codes must be unique within the file; a code that
/// already exists in the corp updates that store (re-importing a sheet is
/// how operators correct it).
pub fn store_rows(headers: &[String], rows: &[Vec<String>]) -> Result<Vec<StoreDraft>, Vec<RowError>> {
    let cols = columns(headers, STORE_COLUMNS, &["code", "name"])?;
    let mut errors = Vec::new();
    let mut drafts = Vec::new();
    let mut seen = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        let line = i + 2;
        let before = errors.len();
        let lat = number(line, "lat", cell(row, &cols, "lat"), &mut errors);
        let lng = number(line, "lng", cell(row, &cols, "lng"), &mut errors);
        let draft = StoreDraft {
            code: cell(row, &cols, "code").into(),
            name: cell(row, &cols, "name").into(),
            address: cell(row, &cols, "address").into(),
            lat,
            lng,
            region: cell(row, &cols, "region").into(),
            kind: cell(row, &cols, "kind").into(),
        };
        match draft.validate() {
            Ok(d) => {
                if let Some(first) = seen.insert(d.code.clone(), line) {
                    errors.push(RowError {
                        line,
                        field: "code".into(),
                        code: "duplicate_code".into(),
                        message: format!("store code {} is also on line {first}", d.code),
                    });
                } else if errors.len() == before {
                    drafts.push(d);
                }
            }
            Err(e) => errors.extend(e.0.into_iter().map(|f| RowError::new(line, f))),
        }
    }
    if errors.is_empty() {
        Ok(drafts)
    } else {
        Err(errors)
    }
}

/// Validates staff rows. `stores` maps the corp's store codes to ids; the
/// `stores` cell lists codes separated by `;`, `|` or `、`.
pub fn staff_rows(
    headers: &[String],
    rows: &[Vec<String>],
    stores: &HashMap<String, i64>,
) -> Result<Vec<StaffDraft>, Vec<RowError>> {
    let cols = columns(headers, STAFF_COLUMNS, &["userid", "name"])?;
    let mut errors = Vec::new();
    let mut drafts = Vec::new();
    let mut seen = HashSet::new();
    for (i, row) in rows.iter().enumerate() {
        let line = i + 2;
        let before = errors.len();
        let mut store_ids = Vec::new();
        for code in cell(row, &cols, "stores").split([';', '|', '、']).map(str::trim).filter(|c| !c.is_empty()) {
            match stores.get(code) {
                Some(id) => store_ids.push(*id),
                None => errors.push(RowError {
                    line,
                    field: "stores".into(),
                    code: "unknown_store".into(),
                    message: format!("no store has code {code}"),
                }),
            }
        }
        let active = match cell(row, &cols, "active").to_lowercase().as_str() {
            "" | "1" | "true" | "yes" | "y" | "是" | "在职" => true,
            "0" | "false" | "no" | "n" | "否" | "离职" => false,
            other => {
                errors.push(RowError {
                    line,
                    field: "active".into(),
                    code: "not_a_boolean".into(),
                    message: format!("active {other:?} should be yes or no"),
                });
                true
            }
        };
        let draft = StaffDraft {
            userid: cell(row, &cols, "userid").into(),
            name: cell(row, &cols, "name").into(),
            mobile: cell(row, &cols, "mobile").into(),
            active,
            store_ids,
        };
        match draft.validate() {
            Ok(d) => {
                if !seen.insert(d.userid.clone()) {
                    errors.push(RowError {
                        line,
                        field: "userid".into(),
                        code: "duplicate_userid".into(),
                        message: format!("userid {} appears twice", d.userid),
                    });
                } else if errors.len() == before {
                    drafts.push(d);
                }
            }
            Err(e) => errors.extend(e.0.into_iter().map(|f| RowError::new(line, f))),
        }
    }
    if errors.is_empty() {
        Ok(drafts)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn chinese_headers_are_understood() {
        let rows = store_rows(&s(&["门店编码", "门店名称", "纬度", "经度"]), &[s(&["SH1", "静安店", "31.2", "121.4"])])
            .expect("valid");
        assert_eq!(rows[0].code, "SH1");
        assert_eq!(rows[0].lat, Some(31.2));
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line() {
        let errs = store_rows(
            &s(&["code", "name", "lat", "lng"]),
            &[
                s(&["A", "one", "31", "121"]),
                s(&["B", "two", "991", "121"]),
                s(&["A", "three", "", ""]),
                s(&["C", "four", "north", "121"]),
            ],
        )
        .unwrap_err();
        let got: Vec<_> = errs.iter().map(|e| (e.line, e.code.as_str())).collect();
        assert_eq!(got, [(3, "out_of_range"), (4, "duplicate_code"), (5, "not_a_number"), (5, "incomplete_location")]);
    }

    #[test]
    fn a_column_named_twice_is_refused() {
        let errs = store_rows(&s(&["code", "门店编码", "name"]), &[]).unwrap_err();
        assert_eq!(errs[0].code, "duplicate_column");
    }

    #[test]
    fn headers_are_checked_before_rows() {
        let errs = store_rows(&s(&["code", "colour"]), &[]).unwrap_err();
        let codes: Vec<_> = errs.iter().map(|e| e.code.as_str()).collect();
        assert_eq!(codes, ["unknown_column", "missing_column"]);
    }

    #[test]
    fn staff_rows_resolve_store_codes() {
        let stores = HashMap::from([("SH1".to_string(), 10), ("SH2".to_string(), 11)]);
        let ok = staff_rows(&s(&["userid", "name", "stores", "active"]), &[s(&["li", "李", "SH1;SH2", "是"])], &stores)
            .expect("valid");
        assert_eq!(ok[0].store_ids, [10, 11]);
        let errs =
            staff_rows(&s(&["userid", "name", "stores"]), &[s(&["li", "李", "SH9"]), s(&["li", "李", ""])], &stores)
                .unwrap_err();
        let got: Vec<_> = errs.iter().map(|e| (e.line, e.code.as_str())).collect();
        assert_eq!(got, [(2, "unknown_store"), (3, "duplicate_userid")]);
    }
}
