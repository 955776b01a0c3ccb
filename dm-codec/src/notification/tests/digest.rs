//! The SHA256-DIGEST: computation, signing, verification.

use super::*;

#[test]
fn digest_over_is_the_same_for_small_and_large_messages() {
    for len in [42, 511, 512, 513, 2000] {
        let bytes: Vec<u8> = (0..len)
            .map(|i| u8::try_from(i % 251).unwrap_or(0))
            .collect();
        let offset = 10;
        let mut zeroed = bytes.clone();
        zeroed[offset..offset + DIGEST_LEN].fill(0);
        let mut hasher = Sha256::new();
        hasher.update(b"secret");
        hasher.update(&zeroed);
        hasher.update(b"auth");
        let expected: [u8; DIGEST_LEN] = hasher.finalize().into();
        assert_eq!(
            digest_over(&bytes, offset, b"secret", b"auth"),
            Some(expected),
            "{len}"
        );
    }
    assert_eq!(
        digest_over(&[0; 40], 20, b"", b""),
        None,
        "digest past the end"
    );
}

#[test]
fn signed_requires_id_and_timestamp() {
    let mut n = Notification::new(ServerId::new("a").expect("valid"), ConnectionType::Any);
    n.timestamp = Some(1);
    assert_eq!(
        encode_signed(&n, b"k", b""),
        Err(error(0, "a signed notification needs a NOTIFICATION-ID"))
    );
    n.timestamp = None;
    n.notification_id = Some(1);
    assert_eq!(
        encode_signed(&n, b"k", b""),
        Err(error(0, "a signed notification needs a TIMESTAMP"))
    );
}

#[test]
fn signed_digest_matches_definition() {
    let mut n = Notification::new(
        ServerId::new("dm.example").expect("valid"),
        ConnectionType::Any,
    );
    n.notification_id = Some(3);
    n.timestamp = Some(4);
    n.digest = Some([0xee; 32]); // replaced
    let bytes = encode_signed(&n, b"secret", b"auth").expect("encodes");
    let received = Received::decode(&bytes).expect("decodes");
    let offset = received.digest_offset().expect("digest present");
    let mut zeroed = bytes.clone();
    zeroed[offset..offset + 32].fill(0);
    let mut hasher = Sha256::new();
    hasher.update(b"secret");
    hasher.update(&zeroed);
    hasher.update(b"auth");
    let expected: [u8; 32] = hasher.finalize().into();
    assert_eq!(received.notification().digest, Some(expected));
    assert_eq!(
        received.verify_digest(b"secret", b"auth"),
        DigestCheck::Valid
    );
    assert_eq!(
        received.verify_digest(b"secret", b"other"),
        DigestCheck::Invalid
    );
    assert_eq!(received.verify_digest(b"", b""), DigestCheck::Invalid);
    // Secret and auth data are not interchangeable at their boundary.
    assert_eq!(
        received.verify_digest(b"secre", b"tauth"),
        DigestCheck::Invalid
    );
}

#[test]
fn digest_missing() {
    assert_eq!(
        verify_digest(&minimal(2), b"k", b""),
        Ok(DigestCheck::Missing)
    );
    assert!(verify_digest(&[], b"k", b"").is_err());
}

#[test]
fn constant_time_compare() {
    // The comparison `Received::verify_digest` uses.
    assert!(crate::hex::constant_time_eq(&[1; 32], &[1; 32]));
    let mut other = [1; 32];
    other[31] = 0;
    assert!(!crate::hex::constant_time_eq(&[1; 32], &other));
}
