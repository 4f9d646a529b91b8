//! The `state` string of a contact way: WeCom echoes it back in
//! `add_external_contact`, and it is the only thing that says where a
//! customer came from. It must fit WeCom's 30 characters, and reading it must
//! never fail — corps also run other tools whose ways carry their own states.
//!
//! Format (version 1): `k1` then tagged fields in this fixed order, each a
//! lowercase tag followed by the value in upper-case base 36:
//!
//! | tag | field | |
//! |---|---|---|
//! | `c` | code_id | always |
//! | `s` | store_id | optional |
//! | `a` | campaign_id (活动) | optional |
//! | `i` | inviter_customer | optional |
//! | `v` | variant | optional, 0..=255 |
//!
//! Code 12, store 3, variant 1 → `k1cCs3v1`. Lower-case tags against
//! upper-case digits need no separators, which is what lets the fission case
//! (code + campaign + inviter, any id up to 10^12) fit in 29 characters.
//! Only the canonical spelling decodes (fixed order, no leading zeros), so
//! one state means one thing.

use serde::{Deserialize, Serialize};

/// WeCom's limit on `state`.
pub const STATE_MAX_CHARS: usize = 30;
const PREFIX: &str = "k1";
const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// What koi puts in a state: everything attribution needs at add time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelState {
    pub code_id: i64,
    /// Which variant of the code (poster or landing variant) was shown.
    pub variant: Option<u8>,
    /// The store chosen for this scan (nearest-store codes) when it differs per QR.
    pub store_id: Option<i64>,
    pub campaign_id: Option<i64>,
    /// The customer whose personal poster was scanned (fission).
    pub inviter_customer: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("{field} is negative; ids in a state are never negative")]
    NegativeId { field: &'static str },
    #[error("the state would be {len} characters; WeCom allows at most {STATE_MAX_CHARS}")]
    TooLong { len: usize },
}

/// Where an add came from, as far as its `state` tells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Attribution {
    /// One of koi's codes.
    Channel(ChannelState),
    /// Empty, another tool's state, or anything else: kept verbatim for reports.
    Unknown { raw: String },
}

impl ChannelState {
    pub fn code(code_id: i64) -> Self {
        Self { code_id, ..Default::default() }
    }

    /// The state to give WeCom. Fails rather than truncating, because a cut
    /// state would attribute customers to the wrong inviter or store.
    ///
    /// Always fits when every id is ≤ 10^12 (8 base-36 digits) and the state
    /// carries at most three ids, or two ids and a variant; and always fits
    /// with all five fields when code, store and campaign ids are below
    /// 36^5 (≈ 60 million) and the inviter below 36^6 (≈ 2.2 billion).
    pub fn encode(&self) -> Result<String, StateError> {
        let mut out = String::with_capacity(STATE_MAX_CHARS + 8);
        out.push_str(PREFIX);
        push_id(&mut out, 'c', Some(self.code_id), "code_id")?;
        push_id(&mut out, 's', self.store_id, "store_id")?;
        push_id(&mut out, 'a', self.campaign_id, "campaign_id")?;
        push_id(&mut out, 'i', self.inviter_customer, "inviter_customer")?;
        if let Some(v) = self.variant {
            out.push('v');
            push_base36(&mut out, u64::from(v));
        }
        if out.len() > STATE_MAX_CHARS {
            return Err(StateError::TooLong { len: out.len() });
        }
        Ok(out)
    }

    /// Reads a state. Total: any input (a foreign tool's state, garbage, an
    /// empty string, 30 CJK characters) is [`Attribution::Unknown`], never an
    /// error, so one odd callback cannot stall the pipeline.
    pub fn decode(raw: &str) -> Attribution {
        match parse(raw).filter(|s| s.encode().as_deref() == Ok(raw)) {
            Some(state) => Attribution::Channel(state),
            None => Attribution::Unknown { raw: raw.to_string() },
        }
    }
}

fn push_id(out: &mut String, tag: char, id: Option<i64>, field: &'static str) -> Result<(), StateError> {
    if let Some(id) = id {
        let id = u64::try_from(id).map_err(|_| StateError::NegativeId { field })?;
        out.push(tag);
        push_base36(out, id);
    }
    Ok(())
}

fn push_base36(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 13];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = DIGITS[(n % 36) as usize];
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.extend(buf[i..].iter().map(|&b| b as char));
}

/// Lenient parse; `decode` then insists the input is the canonical spelling.
fn parse(raw: &str) -> Option<ChannelState> {
    let mut rest = raw.strip_prefix(PREFIX)?.as_bytes();
    let mut state = ChannelState::default();
    let mut seen_code = false;
    while let Some((&tag, tail)) = rest.split_first() {
        let len = tail.iter().take_while(|b| b.is_ascii_digit() || b.is_ascii_uppercase()).count();
        if len == 0 {
            return None;
        }
        let mut value: u64 = 0;
        for &b in &tail[..len] {
            let d = if b.is_ascii_digit() { b - b'0' } else { b - b'A' + 10 };
            value = value.checked_mul(36)?.checked_add(u64::from(d))?;
        }
        let id = i64::try_from(value).ok();
        match tag {
            b'c' => {
                state.code_id = id?;
                seen_code = true;
            }
            b's' => state.store_id = Some(id?),
            b'a' => state.campaign_id = Some(id?),
            b'i' => state.inviter_customer = Some(id?),
            b'v' => state.variant = Some(u8::try_from(value).ok()?),
            _ => return None,
        }
        rest = &tail[len..];
    }
    seen_code.then_some(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAX_ID: i64 = 1_000_000_000_000;

    fn unknown(raw: &str) -> Attribution {
        Attribution::Unknown { raw: raw.to_string() }
    }

    #[test]
    fn the_example_reads_back() {
        let s = ChannelState { code_id: 12, store_id: Some(3), variant: Some(1), ..Default::default() };
        assert_eq!(s.encode().as_deref(), Ok("k1cCs3v1"));
        assert_eq!(ChannelState::decode("k1cCs3v1"), Attribution::Channel(s));
        assert_eq!(ChannelState::code(0).encode().as_deref(), Ok("k1c0"));
    }

    #[test]
    fn the_fission_case_fits_at_the_largest_ids() {
        let s = ChannelState {
            code_id: MAX_ID,
            campaign_id: Some(MAX_ID),
            inviter_customer: Some(MAX_ID),
            ..Default::default()
        };
        let encoded = s.encode().expect("three ids fit");
        assert_eq!(encoded.len(), 29);
        assert_eq!(ChannelState::decode(&encoded), Attribution::Channel(s));
    }

    #[test]
    fn too_much_is_an_error_not_a_cut() {
        let all = ChannelState {
            code_id: MAX_ID,
            variant: Some(255),
            store_id: Some(MAX_ID),
            campaign_id: Some(MAX_ID),
            inviter_customer: Some(MAX_ID),
        };
        assert_eq!(all.encode(), Err(StateError::TooLong { len: 41 }));
        let negative = ChannelState { store_id: Some(-1), ..ChannelState::code(1) };
        assert_eq!(negative.encode(), Err(StateError::NegativeId { field: "store_id" }));
    }

    #[test]
    fn foreign_and_odd_states_are_unknown() {
        for raw in [
            "",
            "k1",
            "k1s3",     // no code
            "k1c",      // tag without a value
            "k1c0C",    // leading zero
            "k1s3cC",   // wrong order
            "k1cCcD",   // repeated field
            "k1cc",     // lower-case digits
            "k1cCv100", // variant over 255
            "k1cCx1",   // unknown tag
            "K1cC",
            "k2cC",
            "k1cC ",
            "k1c1Y2P0IJ32E8E8", // past i64::MAX
            "k1cZZZZZZZZZZZZZZZZZZZZZZZZZZZ",
            "wx_poster_2024",
            "qrcode_store_12",
            "渠道海报",
        ] {
            assert_eq!(ChannelState::decode(raw), unknown(raw), "{raw:?}");
        }
        let cjk = "店".repeat(30);
        assert_eq!(ChannelState::decode(&cjk), unknown(&cjk));
    }

    #[test]
    fn i64_max_still_reads_back() {
        let s = ChannelState::code(i64::MAX);
        assert_eq!(ChannelState::decode(&s.encode().expect("fits")), Attribution::Channel(s));
    }

    fn id() -> impl Strategy<Value = i64> {
        prop_oneof![0..100i64, 0..=MAX_ID, Just(MAX_ID)]
    }

    fn state() -> impl Strategy<Value = ChannelState> {
        (id(), any::<Option<u8>>(), proptest::option::of(id()), proptest::option::of(id()), proptest::option::of(id()))
            .prop_map(|(code_id, variant, store_id, campaign_id, inviter_customer)| ChannelState {
                code_id,
                variant,
                store_id,
                campaign_id,
                inviter_customer,
            })
    }

    proptest! {
        #[test]
        fn encode_fits_or_says_so_and_decode_inverts_it(s in state()) {
            match s.encode() {
                Ok(encoded) => {
                    prop_assert!(encoded.len() <= STATE_MAX_CHARS && encoded.is_ascii());
                    prop_assert_eq!(ChannelState::decode(&encoded), Attribution::Channel(s));
                }
                Err(StateError::TooLong { len }) => prop_assert!(len > STATE_MAX_CHARS),
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }

        #[test]
        fn three_ids_or_two_and_a_variant_always_fit(s in state(), drop in 0usize..3) {
            let mut s = s;
            if s.store_id.is_some() && s.campaign_id.is_some() && s.inviter_customer.is_some() {
                match drop {
                    0 => s.store_id = None,
                    1 => s.campaign_id = None,
                    _ => s.inviter_customer = None,
                }
            }
            let optional_ids = [s.store_id, s.campaign_id, s.inviter_customer].iter().flatten().count();
            if optional_ids == 2 {
                s.variant = None;
            }
            let encoded = s.encode();
            prop_assert!(encoded.is_ok(), "{:?} → {:?}", s, encoded);
        }

        #[test]
        fn all_five_fields_fit_at_corp_scale(
            code_id in 0i64..60_466_176,
            store_id in 0i64..60_466_176,
            campaign_id in 0i64..60_466_176,
            inviter in 0i64..2_176_782_336,
            variant in any::<u8>(),
        ) {
            let s = ChannelState {
                code_id,
                variant: Some(variant),
                store_id: Some(store_id),
                campaign_id: Some(campaign_id),
                inviter_customer: Some(inviter),
            };
            let encoded = s.encode();
            prop_assert!(encoded.is_ok(), "{:?} → {:?}", s, encoded);
        }

        #[test]
        fn decode_is_total(raw in ".{0,40}") {
            match ChannelState::decode(&raw) {
                Attribution::Channel(s) => {
                    let again = s.encode();
                    prop_assert_eq!(again.as_deref(), Ok(raw.as_str()));
                }
                Attribution::Unknown { raw: kept } => prop_assert_eq!(kept, raw),
            }
        }

        #[test]
        fn near_misses_never_panic(raw in "k1[a-zA-Z0-9]{0,30}") {
            let _ = ChannelState::decode(&raw);
        }
    }
}
