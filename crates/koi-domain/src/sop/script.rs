//! Scripts (话术) and materials (素材).
//!
//! A script's text may hold variables in braces, filled for the customer of
//! the chat when a guide copies or sends it: `{name}` (the customer's name),
//! `{guide}` (the guide's name), `{store}` (the guide's store). An unknown
//! variable is refused when the script is saved; `{{` writes a brace.

use crate::error::Checker;
use crate::ValidationError;
use serde::{Deserialize, Serialize};

/// The variables a script may use.
pub const VARIABLES: &[&str] = &["name", "guide", "store"];

/// Values of the variables for one chat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars<'a> {
    pub name: &'a str,
    pub guide: &'a str,
    pub store: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScriptDraft {
    /// A folder to file it under (`开场`, `售后`…); empty for none.
    #[serde(default)]
    pub folder: String,
    pub title: String,
    pub body: String,
    /// Words a guide searches it by.
    #[serde(default)]
    pub keywords: Vec<String>,
}

impl ScriptDraft {
    pub fn validate(mut self) -> Result<ScriptDraft, ValidationError> {
        let mut c = Checker::default();
        self.folder = c.text("folder", &self.folder, 32, false);
        self.title = c.text("title", &self.title, 64, true);
        self.body = c.text("body", &self.body, 2000, true);
        if self.keywords.len() > 10 {
            c.push("keywords", "too_many", "at most 10 keywords");
        }
        self.keywords = self.keywords.iter().map(|k| c.text("keywords", k, 20, true)).collect();
        self.keywords.sort();
        self.keywords.dedup();
        if let Err(e) = check_variables("body", &self.body) {
            c.extend(e);
        }
        c.finish(self)
    }
}

/// Refuses unknown or unclosed variables.
pub fn check_variables(field: &str, text: &str) -> Result<(), ValidationError> {
    let mut c = Checker::default();
    for piece in pieces(text) {
        match piece {
            Piece::Var(v) if !VARIABLES.contains(&v) => {
                c.push(field, "unknown_variable", format!("{{{v}}} is not a variable; use {}", VARIABLES.join(", ")))
            }
            Piece::Unclosed => c.push(field, "unclosed_variable", "a { is not closed"),
            _ => {}
        }
    }
    c.finish(())
}

enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
    Unclosed,
}

fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('{') {
        out.push(Piece::Text(&rest[..i]));
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('{') {
            out.push(Piece::Text("{"));
            rest = stripped;
            continue;
        }
        match after.find('}') {
            Some(j) => {
                out.push(Piece::Var(after[..j].trim()));
                rest = &after[j + 1..];
            }
            None => {
                out.push(Piece::Unclosed);
                out.push(Piece::Text(&rest[i..]));
                rest = "";
            }
        }
    }
    out.push(Piece::Text(rest));
    out
}

/// The text with its variables filled; an unknown variable is left as written.
pub fn render(text: &str, vars: &Vars<'_>) -> String {
    let mut out = String::with_capacity(text.len());
    for p in pieces(text) {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Var("name") => out.push_str(vars.name),
            Piece::Var("guide") => out.push_str(vars.guide),
            Piece::Var("store") => out.push_str(vars.store),
            Piece::Var(v) => {
                out.push('{');
                out.push_str(v);
                out.push('}');
            }
            Piece::Unclosed => {}
        }
    }
    out
}

/// What a material is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MaterialKind {
    Image,
    Poster,
    Article,
    MiniProgram,
    Pdf,
    Video,
}

impl MaterialKind {
    pub const ALL: [MaterialKind; 6] = [
        MaterialKind::Image,
        MaterialKind::Poster,
        MaterialKind::Article,
        MaterialKind::MiniProgram,
        MaterialKind::Pdf,
        MaterialKind::Video,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MaterialKind::Image => "image",
            MaterialKind::Poster => "poster",
            MaterialKind::Article => "article",
            MaterialKind::MiniProgram => "mini_program",
            MaterialKind::Pdf => "pdf",
            MaterialKind::Video => "video",
        }
    }

    pub fn parse(s: &str) -> Option<MaterialKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MaterialDraft {
    pub kind: MaterialKind,
    #[serde(default)]
    pub folder: String,
    /// Shown to guides, and the `material` of `material_opened` (tag rules
    /// and segments match it).
    pub title: String,
    /// Where an open goes: the image, the article, the PDF, the video, or
    /// the mini-program's web fallback page. `http(s)://`.
    pub url: String,
    #[serde(default)]
    pub description: String,
    /// A mini-program card's appid and page.
    #[serde(default)]
    pub appid: String,
    #[serde(default)]
    pub page: String,
}

impl MaterialDraft {
    pub fn validate(mut self) -> Result<MaterialDraft, ValidationError> {
        let mut c = Checker::default();
        self.folder = c.text("folder", &self.folder, 32, false);
        self.title = c.text("title", &self.title, 64, true);
        self.url = c.text("url", &self.url, 1024, true);
        if !(self.url.is_empty() || self.url.starts_with("https://") || self.url.starts_with("http://")) {
            c.push("url", "not_http", "url starts with http:// or https://");
        }
        self.description = c.text("description", &self.description, 256, false);
        self.appid = c.text("appid", &self.appid, 64, false);
        self.page = c.text("page", &self.page, 256, false);
        if self.kind == MaterialKind::MiniProgram && (self.appid.is_empty() || self.page.is_empty()) {
            c.push("appid", "required", "a mini-program card needs its appid and page");
        }
        c.finish(self)
    }
}

/// Opens of one tracked link within this window count once.
pub const OPEN_WINDOW_MS: i64 = 30 * 60_000;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn variables_are_filled() {
        let v = Vars { name: "王女士", guide: "小李", store: "徐汇店" };
        assert_eq!(render("{name}您好，我是{guide}（{ store }）", &v), "王女士您好，我是小李（徐汇店）");
        assert_eq!(render("{{name}} {x}", &v), "{name}} {x}");
        assert_eq!(render("no close {name", &v), "no close {name");
    }

    #[test]
    fn scripts_refuse_unknown_variables() {
        let d = |body: &str| ScriptDraft { folder: "".into(), title: "t".into(), body: body.into(), keywords: vec![] };
        assert!(d("{name}, hi").validate().is_ok());
        let e = d("{age} {name").validate().unwrap_err();
        let codes: Vec<_> = e.0.iter().map(|e| e.code.as_str()).collect();
        assert_eq!(codes, ["unknown_variable", "unclosed_variable"]);
    }

    #[test]
    fn materials_need_a_web_address() {
        let m = MaterialDraft {
            kind: MaterialKind::Pdf,
            folder: String::new(),
            title: "新品手册".into(),
            url: "ftp://x".into(),
            description: String::new(),
            appid: String::new(),
            page: String::new(),
        };
        assert_eq!(m.clone().validate().unwrap_err().0[0].code, "not_http");
        let ok = MaterialDraft { url: "https://brand.example/a.pdf".into(), ..m };
        assert!(ok.clone().validate().is_ok());
        assert!(MaterialDraft { kind: MaterialKind::MiniProgram, ..ok }.validate().is_err());
        for k in MaterialKind::ALL {
            assert_eq!(MaterialKind::parse(k.as_str()), Some(k));
        }
    }

    proptest! {
        /// Text without braces passes through unchanged.
        #[test]
        fn plain_text_is_kept(s in "[^{}]{0,40}") {
            prop_assert_eq!(render(&s, &Vars::default()), s);
        }
    }
}
