// Mirrors safetensors' read_metadata: HashMetadata with serde flatten, then validate.
use serde::Deserialize;
use std::collections::HashMap;
#[derive(Deserialize, Debug)]
#[allow(non_camel_case_types)]
enum Dtype { BOOL, F4, F6_E2M3, F6_E3M2, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, I16, U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64 }
fn bits(d: &Dtype) -> usize { use Dtype::*; match d { F4=>4, F6_E2M3|F6_E3M2=>6, BOOL|U8|I8|F8_E5M2|F8_E4M3|F8_E8M0=>8, I16|U16|F16|BF16=>16, I32|U32|F32=>32, C64|F64|I64|U64=>64 } }
#[derive(Deserialize, Debug)]
struct TensorInfo { dtype: Dtype, shape: Vec<usize>, data_offsets: (usize, usize) }
#[derive(Deserialize, Debug)]
struct HashMetadata {
    #[serde(rename = "__metadata__")]
    metadata: Option<HashMap<String, String>>,
    #[serde(flatten)]
    tensors: HashMap<String, TensorInfo>,
}
fn check(buf: &[u8]) -> Result<String, String> {
    if buf.len() < 8 { return Err("HeaderTooSmall".into()); }
    let n = u64::from_le_bytes(buf[..8].try_into().unwrap()) as usize;
    if n > 100_000_000 { return Err("HeaderTooLarge".into()); }
    let h = buf.get(8..8 + n).ok_or("InvalidHeaderLength")?;
    let s = std::str::from_utf8(h).map_err(|e| format!("InvalidHeader {e}"))?;
    let m: HashMetadata = serde_json::from_str(s).map_err(|e| format!("InvalidHeaderDeserialization {e}"))?;
    let mut ts: Vec<_> = m.tensors.into_iter().collect();
    ts.sort_by(|a, b| a.1.data_offsets.cmp(&b.1.data_offsets));
    let mut start = 0usize;
    for (name, t) in &ts {
        let (b, e) = t.data_offsets;
        if b != start || e < b { return Err(format!("InvalidOffset({name})")); }
        start = e;
        let n: usize = t.shape.iter().copied().try_fold(1usize, usize::checked_mul).ok_or("ValidationOverflow")?;
        let nb = n.checked_mul(bits(&t.dtype)).ok_or("ValidationOverflow")?;
        if nb % 8 != 0 { return Err("MisalignedSlice".into()); }
        if e - b != nb / 8 { return Err(format!("TensorInvalidInfo({name})")); }
    }
    if start + 8 + n != buf.len() { return Err("MetadataIncompleteBuffer".into()); }
    Ok(format!("ok: {} tensors, metadata {:?}", ts.len(), m.metadata.map(|m| m.len())))
}
fn main() {
    for p in std::env::args().skip(1) {
        let b = std::fs::read(&p).unwrap();
        match check(&b) { Ok(s) => println!("{p}: {s}"), Err(e) => println!("{p}: REJECTED {e}") }
    }
}
