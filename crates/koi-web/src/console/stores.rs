//! Store list, create, edit and CSV import.

use super::{
    csv_download, error_page, parse_coordinate, read_upload, render, render_with, see_other, Chrome, FormView, Notice,
    OrPage, Page,
};
use crate::auth::{Console, ConsoleForm};
use crate::error::WebError;
use crate::i18n::Tr;
use crate::AppState;
use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use koi_domain::access::Action;
use koi_domain::import::{ImportReport, RowError};
use koi_domain::org::{Store, StoreDraft};
use koi_engine::EngineError;

pub struct StoreRow {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub region: String,
    pub kind: String,
    pub address: String,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    pub staff: usize,
}

#[derive(Template)]
#[template(path = "stores.html")]
struct StoresPage {
    c: Chrome,
    stores: Vec<StoreRow>,
    can_create: bool,
    can_edit: bool,
    form: FormView,
    report: Option<ImportReport>,
    row_errors: Vec<RowError>,
}

#[derive(Template)]
#[template(path = "store_edit.html")]
struct EditPage {
    c: Chrome,
    id: i64,
    form: FormView,
}

async fn page(
    state: &AppState,
    c: &Console,
    form: FormView,
    report: Option<ImportReport>,
    row_errors: Vec<RowError>,
) -> Result<StoresPage, axum::response::Response> {
    let who = c.who();
    let stores = state.engine.stores(who).await.or_page(c)?;
    let staff = state.engine.staff_list(who).await.or_page(c)?;
    let stores = stores
        .into_iter()
        .map(|s| StoreRow {
            staff: staff.iter().filter(|m| m.store_ids.contains(&s.id)).count(),
            id: s.id,
            code: s.code,
            name: s.name,
            region: s.region,
            kind: s.kind,
            address: s.address,
            lat: s.lat,
            lng: s.lng,
        })
        .collect();
    Ok(StoresPage {
        c: Chrome::new(state, c, "stores").await,
        stores,
        can_create: who.allows(Action::CreateStores),
        can_edit: who.allows(Action::EditStore),
        form,
        report,
        row_errors,
    })
}

pub async fn list(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    let mut p = page(&state, &c, FormView::default(), None, vec![]).await?;
    p.c = p.c.flash_from(n.ok.as_deref());
    Ok(render(&p))
}

fn draft(f: &ConsoleForm) -> Result<StoreDraft, WebError> {
    // "lat,lng" pasted from a map takes the place of the two fields.
    let (lat, lng) = match f.get("coords").trim() {
        "" => (parse_coordinate("lat", f.get("lat"))?, parse_coordinate("lng", f.get("lng"))?),
        pasted => match lat_lng(pasted) {
            Some((lat, lng)) => (Some(lat), Some(lng)),
            None => {
                let message = format!("{} ({pasted:?})", Tr(f.console.lang).s("bad_coordinates"));
                let e = koi_domain::ValidationError::one("coords", "bad_coordinates", message);
                return Err(WebError::Engine(EngineError::Invalid(e)));
            }
        },
    };
    Ok(StoreDraft {
        code: f.get("code").into(),
        name: f.get("name").into(),
        address: f.get("address").into(),
        lat,
        lng,
        region: f.get("region").into(),
        kind: f.get("kind").into(),
    })
}

/// `31.2243, 121.4465` (as map apps copy it; a Chinese comma, a space or a
/// slash between works too) → (lat, lng), both in range.
fn lat_lng(text: &str) -> Option<(f64, f64)> {
    let mut parts = text.split([',', '，', ' ', '/', ';']).filter(|p| !p.is_empty());
    let lat: f64 = parts.next()?.parse().ok()?;
    let lng: f64 = parts.next()?.parse().ok()?;
    let fits = lat.is_finite() && lng.is_finite() && lat.abs() <= 90.0 && lng.abs() <= 180.0;
    (parts.next().is_none() && fits).then_some((lat, lng))
}

pub async fn create(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let result = match draft(&f) {
        Ok(d) => state.engine.create_store(c.who(), d).await.map_err(WebError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other("/console/stores?ok=created")),
        Err(e) => {
            let form = FormView::failed(f.fields.clone(), e).map_err(|e| error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &page(&state, c, form, None, vec![]).await?))
        }
    }
}

fn values(s: &Store) -> Vec<(String, String)> {
    let opt = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    vec![
        ("code".into(), s.code.clone()),
        ("name".into(), s.name.clone()),
        ("address".into(), s.address.clone()),
        ("lat".into(), opt(s.lat)),
        ("lng".into(), opt(s.lng)),
        ("region".into(), s.region.clone()),
        ("kind".into(), s.kind.clone()),
    ]
}

pub async fn edit(State(state): State<AppState>, c: Console, Path(id): Path<i64>) -> Page {
    let s = state.engine.store(c.who(), id).await.or_page(&c)?;
    Ok(render(&EditPage { c: Chrome::new(&state, &c, "stores").await, id, form: FormView::of(values(&s)) }))
}

pub async fn update(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let result = match draft(&f) {
        Ok(d) => state.engine.update_store(c.who(), id, d).await.map_err(WebError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other("/console/stores?ok=saved")),
        Err(e) => {
            let form = FormView::failed(f.fields.clone(), e).map_err(|e| error_page(c, e))?;
            let p = EditPage { c: Chrome::new(&state, c, "stores").await, id, form };
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &p))
        }
    }
}

pub async fn import(State(state): State<AppState>, c: Console, upload: Multipart) -> Page {
    let bytes = read_upload(&c, upload).await?;
    match state.engine.import_stores(c.who(), &bytes).await {
        Ok(report) => Ok(render(&page(&state, &c, FormView::default(), Some(report), vec![]).await?)),
        Err(EngineError::ImportRejected(rows)) => {
            let p = page(&state, &c, FormView::default(), None, rows).await?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &p))
        }
        Err(e) => Err(error_page(&c, e.into())),
    }
}

pub async fn template(_c: Console) -> axum::response::Response {
    csv_download(
        "stores.csv",
        "code,name,address,lat,lng,region,kind\nSH-001,静安嘉里中心店,上海市静安区南京西路1515号,31.2243,121.4465,华东,商场店\n",
    )
}

#[cfg(test)]
mod tests {
    use super::lat_lng;

    #[test]
    fn pasted_coordinates() {
        assert_eq!(lat_lng("31.2243,121.4465"), Some((31.2243, 121.4465)));
        assert_eq!(lat_lng(" 31.2243, 121.4465 "), Some((31.2243, 121.4465)));
        assert_eq!(lat_lng("31.2243，121.4465"), Some((31.2243, 121.4465)));
        assert_eq!(lat_lng("-33.86 151.21"), Some((-33.86, 151.21)));
        for bad in ["31.2", "31.2,121.4,5", "north,121", "121.4465,31.2243", "91,0", "0,181", "NaN,1", "inf,1", ","] {
            assert_eq!(lat_lng(bad), None, "{bad}");
        }
    }
}
