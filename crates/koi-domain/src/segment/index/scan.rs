//! The pass over a column's band bytes: 64 customers a step, in SSE2 or
//! AVX2 compares where the CPU has them.

/// Which bands a range takes: `first..first + n_sure` and `none` for sure,
/// `edges` after a look at the exact value.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pick {
    pub(super) first: u8,
    pub(super) n_sure: u8,
    pub(super) none: u8,
    pub(super) edges: [u8; 2],
}

impl Pick {
    /// Bit 0: taken for sure; bit 1: look at the value.
    fn flag(self, b: u8) -> u8 {
        u8::from(b.wrapping_sub(self.first) < self.n_sure || b == self.none)
            | u8::from(b == self.edges[0] || b == self.edges[1]) << 1
    }
}

/// One block of a column scan: for each word with someone in `care`, the
/// customers taken for sure go to `out` and those to look at to `edge`.
pub(super) fn scan(bands: &[u8], care: &[u64], out: &mut [u64], first_id: u32, pick: Pick, edge: &mut Vec<u32>) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { scan_avx2(bands, care, out, first_id, pick, edge) };
    }
    scan_with(bands, care, out, first_id, pick, edge, |b| sixty_four(b, pick));
}

/// [`scan`] compiled for AVX2, so the 32-byte compares inline into it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn scan_avx2(bands: &[u8], care: &[u64], out: &mut [u64], first_id: u32, pick: Pick, edge: &mut Vec<u32>) {
    // SAFETY: this function runs only where AVX2 is (its caller checks).
    scan_with(bands, care, out, first_id, pick, edge, |b| unsafe { sixty_four_avx2(b, pick) });
}

#[inline(always)]
fn scan_with(
    bands: &[u8],
    care: &[u64],
    out: &mut [u64],
    first_id: u32,
    pick: Pick,
    edge: &mut Vec<u32>,
    kernel: impl Fn(&[u8; 64]) -> (u64, u64),
) {
    for ((w, (o, &c)), chunk) in out.iter_mut().zip(care).enumerate().zip(bands.chunks(64)) {
        if c == 0 {
            *o = 0;
            continue;
        }
        let (sure, check) = match <&[u8; 64]>::try_from(chunk) {
            Ok(chunk) => kernel(chunk),
            Err(_) => chunk.iter().enumerate().fold((0, 0), |(s, c), (j, &b)| {
                (s | u64::from(pick.flag(b) & 1) << j, c | u64::from(pick.flag(b) >> 1) << j)
            }),
        };
        let mut check = check & c;
        while check != 0 {
            edge.push(first_id + w as u32 * 64 + check.trailing_zeros());
            check &= check - 1;
        }
        *o = sure & c;
    }
}

/// [`sixty_four`] 32 bands a compare. Not itself `target_feature`: it
/// inlines into [`scan_avx2`], which is.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn sixty_four_avx2(bands: &[u8; 64], pick: Pick) -> (u64, u64) {
    use std::arch::x86_64::*;
    let first = _mm256_set1_epi8(pick.first as i8);
    let n_sure = _mm256_set1_epi8(pick.n_sure as i8);
    let none = _mm256_set1_epi8(pick.none as i8);
    let e0 = _mm256_set1_epi8(pick.edges[0] as i8);
    let e1 = _mm256_set1_epi8(pick.edges[1] as i8);
    let (mut sure, mut check) = (0u64, 0u64);
    for k in 0..2 {
        let b = _mm256_loadu_si256(bands.as_ptr().add(32 * k).cast());
        let off = _mm256_sub_epi8(b, first);
        let outside = _mm256_cmpeq_epi8(_mm256_max_epu8(off, n_sure), off);
        let s = !(_mm256_movemask_epi8(outside) as u32) | _mm256_movemask_epi8(_mm256_cmpeq_epi8(b, none)) as u32;
        let c = _mm256_movemask_epi8(_mm256_or_si256(_mm256_cmpeq_epi8(b, e0), _mm256_cmpeq_epi8(b, e1))) as u32;
        sure |= u64::from(s) << (32 * k);
        check |= u64::from(c) << (32 * k);
    }
    (sure, check)
}

/// For 64 bands, which are in `first..first + n_sure` or are `none` (the
/// first mask), and which are one of `edges` (the second).
#[cfg(target_arch = "x86_64")]
fn sixty_four(bands: &[u8; 64], pick: Pick) -> (u64, u64) {
    let Pick { first, n_sure, none, edges } = pick;
    // SAFETY: SSE2 is part of every x86_64 target (the baseline the
    // compiler already assumes), and the function reads only `bands`.
    unsafe { sixty_four_sse2(bands, first, n_sure, none, edges) }
}

/// Sixteen bands a compare and a byte mask; what the compiler makes of the
/// plain loop is several times slower. `unsafe` only because the
/// intrinsics are, on the Rust version koi declares (1.85).
#[cfg(target_arch = "x86_64")]
unsafe fn sixty_four_sse2(bands: &[u8; 64], first: u8, n_sure: u8, none: u8, edges: [u8; 2]) -> (u64, u64) {
    use std::arch::x86_64::*;
    let first = _mm_set1_epi8(first as i8);
    let n_sure = _mm_set1_epi8(n_sure as i8);
    let none = _mm_set1_epi8(none as i8);
    let e0 = _mm_set1_epi8(edges[0] as i8);
    let e1 = _mm_set1_epi8(edges[1] as i8);
    let (mut sure, mut check) = (0u64, 0u64);
    for (k, sixteen) in bands.chunks_exact(16).enumerate() {
        let (lo, hi) = sixteen.split_at(8);
        let lo = i64::from_le_bytes(lo.try_into().expect("8 bytes"));
        let hi = i64::from_le_bytes(hi.try_into().expect("8 bytes"));
        let b = _mm_set_epi64x(hi, lo);
        let off = _mm_sub_epi8(b, first);
        // off < n_sure, unsigned: not max(off, n_sure) == off.
        let outside = _mm_cmpeq_epi8(_mm_max_epu8(off, n_sure), off);
        let s = !_mm_movemask_epi8(outside) & 0xffff | _mm_movemask_epi8(_mm_cmpeq_epi8(b, none));
        let c = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(b, e0), _mm_cmpeq_epi8(b, e1)));
        sure |= (s as u64) << (16 * k);
        check |= (c as u64) << (16 * k);
    }
    (sure, check)
}

#[cfg(not(target_arch = "x86_64"))]
fn sixty_four(bands: &[u8; 64], pick: Pick) -> (u64, u64) {
    bands
        .iter()
        .enumerate()
        .fold((0, 0), |(s, c), (j, &b)| (s | u64::from(pick.flag(b) & 1) << j, c | u64::from(pick.flag(b) >> 1) << j))
}
