//! Parses arbitrary text as a ClientURI (docs/protocol.md section 9). A parsed
//! ClientURI's canonical form must re-parse to itself with the same parts,
//! and an absolute one must equal what `ClientUri::absolute` builds from its
//! parts.
#![no_main]

use dm_types::{ClientUri, NodeName, Segment};
use libfuzzer_sys::fuzz_target;

/// Everything the accessors give, in comparable form.
fn parts(uri: &ClientUri) -> String {
    let conditions: Vec<_> = uri
        .conditions()
        .map(|c| (c.xname(), c.path().collect::<Vec<_>>(), c.value()))
        .collect();
    format!(
        "{} {:?} {:?} {:?} {:?} {} {}",
        uri.moid(),
        uri.instance(),
        uri.path().collect::<Vec<_>>(),
        conditions,
        uri.cache_validator(),
        uri.is_absolute(),
        uri.has_selectors()
    )
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(uri) = ClientUri::parse(text) else {
        return;
    };
    let canonical = uri.as_str();
    assert_eq!(uri.to_string(), canonical);
    assert_eq!(uri.to_moid().as_str(), uri.moid());
    assert_eq!(uri.path_len(), uri.path().count());
    let again = match ClientUri::parse(canonical) {
        Ok(again) => again,
        Err(e) => panic!("canonical form {canonical:?} of {text:?} does not re-parse: {e}"),
    };
    assert_eq!(
        again.as_str(),
        canonical,
        "canonical form is not a fixed point"
    );
    assert_eq!(again, uri);
    assert_eq!(
        parts(&again),
        parts(&uri),
        "re-parsed parts differ for {canonical:?}"
    );

    if uri.is_absolute() {
        let miid = uri.miid().expect("an absolute ClientURI has a MIID");
        let names: Vec<NodeName> =
            uri.path()
                .map(|segment| match segment {
                    Segment::Name(name) => NodeName::new(name.into_owned())
                        .expect("a parsed segment is a valid node name"),
                    other => panic!("absolute ClientURI {canonical:?} has segment {other:?}"),
                })
                .collect();
        let built = ClientUri::absolute(&uri.to_moid(), &miid, &names);
        assert_eq!(
            built.as_str(),
            canonical,
            "ClientUri::absolute disagrees with parse"
        );
        assert_eq!(parts(&built), parts(&uri));
    }
});
