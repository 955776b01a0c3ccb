//! MO versions: the trailing `:<version>` of a MOID.

use std::cmp::Ordering;
use std::fmt;

/// The version of an MO type, taken from the end of its MOID
/// (`urn:oma:mo:oma-dm-dmacc:1.2` is version `1.2` of the family
/// `urn:oma:mo:oma-dm-dmacc`).
///
/// A version is one or more runs of ASCII digits joined by `.`. Versions
/// compare numerically component by component, a missing component counting
/// as 0: `1.10` is newer than `1.9`, and `1.2` equals `1.2.0`. Components of
/// any length compare correctly (no overflow).
///
/// ```
/// use dm_ddf::MoVersion;
///
/// let (family, version) = MoVersion::split("urn:oma:mo:oma-dm-dmacc:1.2");
/// assert_eq!(family, "urn:oma:mo:oma-dm-dmacc");
/// assert_eq!(version.as_ref().map(MoVersion::as_str), Some("1.2"));
///
/// assert!(MoVersion::parse("1.10") > MoVersion::parse("1.9"));
/// assert_eq!(MoVersion::parse("1.2"), MoVersion::parse("1.2.0"));
/// assert!(MoVersion::parse("1.x").is_none());
/// assert_eq!(MoVersion::split("urn:example:noversion"), ("urn:example:noversion", None));
/// ```
#[derive(Debug, Clone)]
pub struct MoVersion(String);

impl MoVersion {
    /// Reads a version: digit runs joined by `.`.
    pub fn parse(text: &str) -> Option<MoVersion> {
        let valid = !text.is_empty()
            && text
                .split('.')
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
        valid.then(|| MoVersion(text.to_owned()))
    }

    /// Splits a MOID into its family and version: the text after the last
    /// `:` is the version when it reads as one; otherwise the whole MOID is
    /// the family and there is no version.
    pub fn split(moid: &str) -> (&str, Option<MoVersion>) {
        if let Some((family, last)) = moid.rsplit_once(':')
            && let Some(version) = MoVersion::parse(last)
        {
            return (family, Some(version));
        }
        (moid, None)
    }

    /// The version as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The numeric components, leading zeros removed, for comparison.
    fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('.').map(|part| {
            let trimmed = part.trim_start_matches('0');
            if trimmed.is_empty() { "0" } else { trimmed }
        })
    }
}

impl Ord for MoVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let mut a = self.components();
        let mut b = other.components();
        loop {
            let (x, y) = match (a.next(), b.next()) {
                (None, None) => return Ordering::Equal,
                (x, y) => (x.unwrap_or("0"), y.unwrap_or("0")),
            };
            // Without leading zeros, a longer digit run is a larger number.
            let order = x.len().cmp(&y.len()).then_with(|| x.cmp(y));
            if order != Ordering::Equal {
                return order;
            }
        }
    }
}

impl PartialOrd for MoVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for MoVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for MoVersion {}

impl fmt::Display for MoVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Option<MoVersion> {
        MoVersion::parse(text)
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(v("1.10") > v("1.9"));
        assert!(v("2") > v("1.99.99"));
        assert!(v("1.2.1") > v("1.2"));
        assert_eq!(v("01.2"), v("1.2.0.0"));
        // Components longer than any integer type still compare.
        assert!(v("1.123456789012345678901234567890") > v("1.99999999999999999999999999999"));
    }

    #[test]
    fn only_digit_runs_joined_by_dots_are_versions() {
        for bad in ["", ".", "1.", ".1", "1..2", "1.x", "v1", "1 .2", "-1"] {
            assert!(v(bad).is_none(), "{bad:?}");
        }
        assert_eq!(MoVersion::split("urn:a:b:1.0").0, "urn:a:b");
        assert_eq!(MoVersion::split("urn:a:b"), ("urn:a:b", None));
        assert_eq!(MoVersion::split("noversion:"), ("noversion:", None));
        assert_eq!(v("1.2").map(|x| x.to_string()).as_deref(), Some("1.2"));
    }
}
