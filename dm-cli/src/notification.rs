//! `dm notification decode|encode`: the binary Package#0 notification
//! (docs/protocol.md section 3.6) and its JSON form.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use dm_codec::notification::{self, DigestCheck, Received};

/// Exit status of `decode --secret-hex` when the notification is well-formed
/// but its digest is missing or does not verify.
const EXIT_DIGEST: u8 = 3;

/// What to do with a notification.
#[derive(clap::Subcommand)]
pub(crate) enum Action {
    /// Decode a binary notification and print its JSON form on one line.
    #[command(after_help = "\
Exit status:
  0  the notification is valid (and, with --secret-hex, its digest verifies)
  1  the input is not a valid notification (nothing on stdout)
  3  with --secret-hex: the notification is valid but its SHA256-DIGEST is
     missing or does not verify; the JSON form is still printed on stdout and
     the reason on stderr. A client must ignore such a notification.")]
    Decode {
        /// Read hex text (either case, surrounding whitespace allowed)
        /// instead of raw bytes.
        #[arg(long)]
        hex: bool,
        /// Verify the SHA256-DIGEST with this secret (DMAcc
        /// Auth/Noti/Secret), given in hex.
        #[arg(long, value_name = "HEX")]
        secret_hex: Option<String>,
        /// The auth data (DMAcc Auth/Noti/Data) for the digest, in hex;
        /// empty when absent.
        #[arg(long, value_name = "HEX", requires = "secret_hex")]
        auth_data_hex: Option<String>,
        /// The file to read (standard input when absent).
        file: Option<PathBuf>,
    },
    /// Encode the JSON form of a notification into the binary form (raw
    /// bytes on stdout). The digest, when present, is written as given.
    Encode {
        /// Print lowercase hex and a newline instead of raw bytes.
        #[arg(long)]
        hex: bool,
        /// The file to read (standard input when absent).
        file: Option<PathBuf>,
    },
}

pub(crate) fn run(action: Action) -> ExitCode {
    match action {
        Action::Decode {
            hex,
            secret_hex,
            auth_data_hex,
            file,
        } => decode(
            file.as_deref(),
            hex,
            secret_hex.as_deref(),
            auth_data_hex.as_deref(),
        ),
        Action::Encode { hex, file } => encode(file.as_deref(), hex),
    }
}

fn decode(
    file: Option<&Path>,
    hex: bool,
    secret_hex: Option<&str>,
    auth_data_hex: Option<&str>,
) -> ExitCode {
    let key = match secret_hex
        .map(|secret| {
            let secret = parse_hex(secret.as_bytes()).map_err(|e| format!("--secret-hex: {e}"))?;
            let auth_data = match auth_data_hex {
                Some(text) => {
                    parse_hex(text.as_bytes()).map_err(|e| format!("--auth-data-hex: {e}"))?
                }
                None => Vec::new(),
            };
            Ok::<_, String>((secret, auth_data))
        })
        .transpose()
    {
        Ok(key) => key,
        Err(e) => return crate::fail(e),
    };
    let bytes = match read(file, hex) {
        Ok(bytes) => bytes,
        Err(e) => return crate::fail(e),
    };
    let received = match Received::decode(&bytes) {
        Ok(received) => received,
        Err(e) => return crate::fail(e),
    };
    let json = notification::to_json_string(received.notification());
    let Some((secret, auth_data)) = key else {
        return crate::print_line(json);
    };
    let problem = match received.verify_digest(&secret, &auth_data) {
        DigestCheck::Valid => return crate::print_line(json),
        DigestCheck::Invalid => "the SHA256-DIGEST does not verify with this secret and auth data",
        DigestCheck::Missing => "the notification has no SHA256-DIGEST",
    };
    if crate::print_line(json) != ExitCode::SUCCESS {
        return ExitCode::from(1);
    }
    say!("error: {problem}");
    ExitCode::from(EXIT_DIGEST)
}

fn encode(file: Option<&Path>, hex: bool) -> ExitCode {
    let json = match crate::input::read(file) {
        Ok(json) => json,
        Err(e) => return crate::fail(e),
    };
    let bytes = match notification::from_json(&json).and_then(|n| notification::encode(&n)) {
        Ok(bytes) => bytes,
        Err(e) => return crate::fail(e),
    };
    if hex {
        return crate::print_line(dm_codec::hex::encode(&bytes));
    }
    let mut out = std::io::stdout().lock();
    if out.write_all(&bytes).and_then(|()| out.flush()).is_err() {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// Reads the input: raw bytes, or hex text with `hex`.
fn read(file: Option<&Path>, hex: bool) -> Result<Vec<u8>, String> {
    let bytes = crate::input::read(file)?;
    if !hex {
        return Ok(bytes);
    }
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    parse_hex(bytes.get(start..end).unwrap_or_default())
        .map_err(|e| format!("hex input: {e} (counting from the first digit)"))
}

/// Hex digits (either case) to bytes ([`dm_codec::hex::decode`]), with
/// the byte of the first character that is not a hex digit.
fn parse_hex(text: &[u8]) -> Result<Vec<u8>, String> {
    if let Some(at) = text.iter().position(|c| !c.is_ascii_hexdigit()) {
        return Err(format!("not a hex digit at byte {at}"));
    }
    if !text.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits ({})", text.len()));
    }
    std::str::from_utf8(text)
        .ok()
        .and_then(dm_codec::hex::decode)
        .ok_or_else(|| "not hex digits".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_both_ways() {
        assert_eq!(parse_hex(b"00fFa1"), Ok(vec![0x00, 0xff, 0xa1]));
        assert_eq!(parse_hex(b""), Ok(vec![]));
        assert_eq!(
            parse_hex(b"0"),
            Err("odd number of hex digits (1)".to_owned())
        );
        assert_eq!(
            parse_hex(b"0g"),
            Err("not a hex digit at byte 1".to_owned())
        );
        assert_eq!(
            parse_hex(b"00 11"),
            Err("not a hex digit at byte 2".to_owned())
        );
        assert_eq!(dm_codec::hex::encode(&[0x00, 0xff, 0x1a]), "00ff1a");
    }
}
