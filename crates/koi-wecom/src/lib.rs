//! The WeCom (企业微信) protocol as koi speaks it: the
//! callback crypto (WXBizMsgCrypt), the typed callback events, and the error
//! codes the API answers with, the API client, and WeChat Pay's red packets
//! ([`pay`], for rewards). The web handlers build on this crate; the WeCom simulator uses the same code so both sides of the wire
//! agree by construction.

pub mod client;
pub mod crypto;
pub mod errcode;
pub mod event;
pub mod pay;
mod xml;

pub use crypto::{CallbackCrypto, CryptoError, EncryptedEnvelope};
pub use errcode::{ApiResponse, ErrCode};
pub use event::{dedup_key, CallbackEvent, EventError};
