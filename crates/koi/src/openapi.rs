//! `koi openapi`: print the OpenAPI document of /api/v1.

use anyhow::Result;

pub(crate) fn run() -> Result<()> {
    println!("{}", serde_json::to_string_pretty(&koi_web::openapi_document())?);
    Ok(())
}
