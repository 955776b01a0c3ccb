//! Reading the input file or standard input, bounded.

use std::io::Read as _;
use std::path::Path;

/// The most bytes `dm` reads from one input (well above every decoding limit,
/// so a limit error rather than this one reports oversized documents).
pub(crate) const MAX_INPUT_BYTES: u64 = 256 << 20;

/// Reads `file`, or standard input when `None`, refusing more than
/// [`MAX_INPUT_BYTES`].
pub(crate) fn read(file: Option<&Path>) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let result = match file {
        Some(path) => std::fs::File::open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?
            .take(MAX_INPUT_BYTES + 1)
            .read_to_end(&mut bytes),
        None => std::io::stdin()
            .lock()
            .take(MAX_INPUT_BYTES + 1)
            .read_to_end(&mut bytes),
    };
    result.map_err(|e| format!("cannot read input: {e}"))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(format!("input is larger than {MAX_INPUT_BYTES} bytes"));
    }
    Ok(bytes)
}
