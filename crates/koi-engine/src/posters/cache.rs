//! What makes a second poster for the same participant free: rendered
//! JPEGs by content hash (SHA-256 of the template's version and the fill),
//! prepared templates (background decoded and pre-encoded) by template, and
//! the payloads read out of WeCom's QR images by the image's URL, and
//! pictures (avatars, product images) by URL (a failed fetch too, for a
//! while), all in memory, least recently used out first.

use koi_poster::{PosterFill, PreparedTemplate};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Rendered posters kept, in bytes (~150 KB each: some 400 posters).
const RENDERS_MAX_BYTES: usize = 64 * 1024 * 1024;
/// Prepared templates kept (3 MB of pixels each).
const PREPARED_MAX: usize = 16;
/// QR payloads kept (a URL and a payload of ~100 bytes each).
const QR_PAYLOADS_MAX: usize = 20_000;
/// Pictures kept (avatars, product images), in bytes (WeChat's avatars are
/// 10–100 KB: some 300 of them).
const PICTURES_MAX_BYTES: usize = 32 * 1024 * 1024;
/// How long a failed picture fetch is remembered before it is tried again:
/// a dead CDN is not asked for every poster, and a passing hiccup heals.
pub(crate) const PICTURE_RETRY_AFTER: Duration = Duration::from_secs(300);

/// A least-recently-used map bounded by the total weight of its values.
pub(crate) struct Lru<K, V> {
    entries: HashMap<K, (V, u64, usize)>,
    order: BTreeMap<u64, K>,
    tick: u64,
    weight: usize,
    max_weight: usize,
}

impl<K: Eq + Hash + Clone, V: Clone> Lru<K, V> {
    pub(crate) fn new(max_weight: usize) -> Self {
        Lru { entries: HashMap::new(), order: BTreeMap::new(), tick: 0, weight: 0, max_weight }
    }

    pub(crate) fn get(&mut self, key: &K) -> Option<V> {
        self.tick += 1;
        let (v, used, _) = self.entries.get_mut(key)?;
        self.order.remove(used);
        *used = self.tick;
        self.order.insert(self.tick, key.clone());
        Some(v.clone())
    }

    /// Keeps `value` (weighing `weight`), dropping the least recently used
    /// entries until the total fits; a value heavier than the whole cache
    /// is not kept.
    pub(crate) fn put(&mut self, key: K, value: V, weight: usize) {
        self.remove(&key);
        if weight > self.max_weight {
            return;
        }
        while self.weight + weight > self.max_weight {
            let Some((_, oldest)) = self.order.pop_first() else { break };
            if let Some((_, _, w)) = self.entries.remove(&oldest) {
                self.weight -= w;
            }
        }
        self.tick += 1;
        self.order.insert(self.tick, key.clone());
        self.entries.insert(key, (value, self.tick, weight));
        self.weight += weight;
    }

    pub(crate) fn remove(&mut self, key: &K) {
        if let Some((_, used, w)) = self.entries.remove(key) {
            self.order.remove(&used);
            self.weight -= w;
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// (corp, template) → (version, prepared).
type PreparedLru = Lru<(i64, i64), (i64, Arc<PreparedTemplate>)>;
/// A picture's URL → its bytes, or `None` for a fetch that failed (and when).
type PictureLru = Lru<String, (Option<Arc<Vec<u8>>>, Instant)>;

pub(crate) struct PosterCache {
    renders: Mutex<Lru<[u8; 32], Arc<Vec<u8>>>>,
    prepared: Mutex<PreparedLru>,
    /// A QR image's URL → what its QR encodes.
    qr_payloads: Mutex<Lru<String, String>>,
    pictures: Mutex<PictureLru>,
}

impl Default for PosterCache {
    fn default() -> Self {
        PosterCache {
            renders: Mutex::new(Lru::new(RENDERS_MAX_BYTES)),
            prepared: Mutex::new(Lru::new(PREPARED_MAX)),
            qr_payloads: Mutex::new(Lru::new(QR_PAYLOADS_MAX)),
            pictures: Mutex::new(Lru::new(PICTURES_MAX_BYTES)),
        }
    }
}

/// The content hash of one poster: the template (corp, id, version) and
/// every part of the fill, each length-prefixed so no two fills collide
/// by concatenation.
pub(crate) fn render_key(corp_id: i64, template_id: i64, version: i64, fill: &PosterFill) -> [u8; 32] {
    let mut h = Sha256::new();
    let mut part = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    part(b"koi-poster-v1");
    part(&corp_id.to_le_bytes());
    part(&template_id.to_le_bytes());
    part(&version.to_le_bytes());
    part(fill.qr_payload.as_bytes());
    part(fill.nickname.as_bytes());
    match &fill.avatar {
        Some(a) => part(a),
        None => part(b"no avatar"),
    }
    for (k, v) in &fill.text_vars {
        part(k.as_bytes());
        part(v.as_bytes());
    }
    h.finalize().into()
}

impl PosterCache {
    pub(crate) fn render(&self, key: &[u8; 32]) -> Option<Arc<Vec<u8>>> {
        self.renders.lock().unwrap_or_else(|p| p.into_inner()).get(key)
    }

    pub(crate) fn keep_render(&self, key: [u8; 32], jpeg: Arc<Vec<u8>>) {
        let weight = jpeg.len();
        self.renders.lock().unwrap_or_else(|p| p.into_inner()).put(key, jpeg, weight);
    }

    /// The prepared template, when the one kept is of `version`.
    pub(crate) fn prepared(&self, corp_id: i64, id: i64, version: i64) -> Option<Arc<PreparedTemplate>> {
        let mut p = self.prepared.lock().unwrap_or_else(|p| p.into_inner());
        p.get(&(corp_id, id)).filter(|(v, _)| *v == version).map(|(_, t)| t)
    }

    pub(crate) fn keep_prepared(&self, corp_id: i64, id: i64, version: i64, t: Arc<PreparedTemplate>) {
        self.prepared.lock().unwrap_or_else(|p| p.into_inner()).put((corp_id, id), (version, t), 1);
    }

    pub(crate) fn forget_template(&self, corp_id: i64, id: i64) {
        self.prepared.lock().unwrap_or_else(|p| p.into_inner()).remove(&(corp_id, id));
    }

    pub(crate) fn qr_payload(&self, url: &str) -> Option<String> {
        self.qr_payloads.lock().unwrap_or_else(|p| p.into_inner()).get(&url.to_string())
    }

    pub(crate) fn keep_qr_payload(&self, url: &str, payload: String) {
        self.qr_payloads.lock().unwrap_or_else(|p| p.into_inner()).put(url.to_string(), payload, 1);
    }

    /// What is known of the picture at `url`: `Some(Some(bytes))` fetched,
    /// `Some(None)` failed lately, `None` not asked (or failed long ago).
    pub(crate) fn picture(&self, url: &str) -> Option<Option<Arc<Vec<u8>>>> {
        let known = self.pictures.lock().unwrap_or_else(|p| p.into_inner()).get(&url.to_string())?;
        match known {
            (Some(bytes), _) => Some(Some(bytes)),
            (None, at) if at.elapsed() < PICTURE_RETRY_AFTER => Some(None),
            (None, _) => None,
        }
    }

    pub(crate) fn keep_picture(&self, url: &str, bytes: Option<Arc<Vec<u8>>>) {
        let weight = bytes.as_ref().map_or(1, |b| b.len().max(1));
        self.pictures.lock().unwrap_or_else(|p| p.into_inner()).put(url.to_string(), (bytes, Instant::now()), weight);
    }

    pub(crate) fn renders_kept(&self) -> usize {
        self.renders.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_go_first_within_the_weight() {
        let mut l = Lru::new(10);
        l.put("a", 1, 4);
        l.put("b", 2, 4);
        assert_eq!(l.get(&"a"), Some(1)); // b is now the oldest
        l.put("c", 3, 4);
        assert_eq!((l.get(&"a"), l.get(&"b"), l.get(&"c")), (Some(1), None, Some(3)));
        l.put("huge", 9, 11);
        assert_eq!(l.get(&"huge"), None, "heavier than the cache: not kept");
        l.put("a", 5, 2);
        assert_eq!((l.get(&"a"), l.len(), l.weight), (Some(5), 2, 6));
        l.remove(&"c");
        assert_eq!((l.len(), l.weight), (1, 2));
    }

    #[test]
    fn pictures_are_kept_and_failures_remembered() {
        let c = PosterCache::default();
        assert_eq!(c.picture("http://a/1"), None, "never asked");
        c.keep_picture("http://a/1", Some(Arc::new(vec![1, 2, 3])));
        c.keep_picture("http://a/2", None);
        assert_eq!(c.picture("http://a/1"), Some(Some(Arc::new(vec![1, 2, 3]))));
        assert_eq!(c.picture("http://a/2"), Some(None), "a failure is not asked again at once");
    }

    #[test]
    fn the_key_changes_with_every_part_of_the_fill_and_the_version() {
        let fill =
            PosterFill { qr_payload: "q".into(), nickname: "n".into(), avatar: None, text_vars: Default::default() };
        let k = render_key(1, 2, 3, &fill);
        assert_eq!(k, render_key(1, 2, 3, &fill.clone()));
        assert_ne!(k, render_key(1, 2, 4, &fill));
        assert_ne!(k, render_key(1, 3, 3, &fill));
        let moved = PosterFill { qr_payload: "qn".into(), nickname: "".into(), ..fill.clone() };
        assert_ne!(k, render_key(1, 2, 3, &moved), "length-prefixed parts");
        let with_avatar = PosterFill { avatar: Some(vec![1]), ..fill.clone() };
        assert_ne!(k, render_key(1, 2, 3, &with_avatar));
        let mut vars = fill.clone();
        vars.text_vars.insert("gift".into(), "券".into());
        assert_ne!(k, render_key(1, 2, 3, &vars));
    }
}
