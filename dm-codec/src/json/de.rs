//! Streaming decoders built on `serde_json`: every value is checked (types,
//! duplicate members, limits) as it is read; no intermediate JSON tree is
//! built.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::fmt;

use dm_types::{
    Alert, AlertType, CacheValidator, Children, ClientUri, Command, CommandEntry, DdfUri,
    FiniteF64, InvalidCommand, JsonObject, LeafValue, Mark, Miid, MoData, MoItem, MoNode, Moid,
    MosEntry, NodeName, Package1, Package2, Package3, Status, StatusCode,
};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::path::{ReversePath, Step};
use crate::{Error, Limits};

type JsonDeserializer<'de> = serde_json::Deserializer<serde_json::de::StrRead<'de>>;

/// Shared state of one decode call.
pub(crate) struct Ctx<'l> {
    limits: &'l Limits,
    /// The whole document.
    input: &'l str,
    /// Nesting depth inside free-form values (MO data, alert data, unknown
    /// members).
    depth: Cell<usize>,
    /// Steps to the failing value, innermost first (filled only on error).
    path: RefCell<Vec<Step>>,
    /// The limit that stopped decoding, when one did.
    limit_hit: Cell<Option<(&'static str, usize)>>,
    /// Children of the MO data objects being read, innermost last.
    children: RefCell<Vec<(NodeName, MoNode)>>,
}

impl<'l> Ctx<'l> {
    fn new(limits: &'l Limits, input: &'l str) -> Self {
        Ctx {
            limits,
            input,
            depth: Cell::new(0),
            path: RefCell::new(Vec::new()),
            limit_hit: Cell::new(None),
            children: RefCell::new(Vec::new()),
        }
    }

    #[inline]
    fn at_key<T, E>(&self, name: &str, result: Result<T, E>) -> Result<T, E> {
        if result.is_err() {
            self.push_step(Step::Key(name.to_owned()));
        }
        result
    }

    #[inline]
    fn at_index<T, E>(&self, index: usize, result: Result<T, E>) -> Result<T, E> {
        if result.is_err() {
            self.push_step(Step::Index(index));
        }
        result
    }

    #[cold]
    fn push_step(&self, step: Step) {
        self.path.borrow_mut().push(step);
    }

    fn limit<E: de::Error>(&self, what: &'static str, limit: usize) -> E {
        self.limit_hit.set(Some((what, limit)));
        E::custom(format_args!("{what} limit of {limit} exceeded"))
    }

    fn enter<E: de::Error>(&self) -> Result<(), E> {
        let depth = self.depth.get() + 1;
        if depth > self.limits.depth {
            return Err(self.limit("nesting depth", self.limits.depth));
        }
        self.depth.set(depth);
        Ok(())
    }

    fn leave(&self) {
        self.depth.set(self.depth.get().saturating_sub(1));
    }

    fn check_string<E: de::Error>(&self, s: &str) -> Result<(), E> {
        if s.len() > self.limits.string_length {
            return Err(self.limit("string length", self.limits.string_length));
        }
        Ok(())
    }

    fn check_uri<E: de::Error>(&self, s: &str) -> Result<(), E> {
        if s.len() > self.limits.uri_length {
            return Err(self.limit("URI length", self.limits.uri_length));
        }
        Ok(())
    }
}

/// Decodes `bytes` with `decode`, refusing oversized input, invalid UTF-8, a
/// byte order mark and trailing bytes, and turns `serde_json` errors into
/// [`Error`]s with a byte offset and a JSON path.
pub(crate) fn run<T>(
    bytes: &[u8],
    what: &'static str,
    max_bytes: usize,
    limits: &Limits,
    decode: impl for<'de> FnOnce(&mut JsonDeserializer<'de>, &Ctx<'_>) -> Result<T, serde_json::Error>,
) -> Result<T, Error> {
    run_text(checked_text(bytes, what, max_bytes)?, limits, decode)
}

/// The document as text, after the checks every decoder makes first: size,
/// UTF-8, no byte order mark.
pub(crate) fn checked_text<'b>(
    bytes: &'b [u8],
    what: &'static str,
    max_bytes: usize,
) -> Result<&'b str, Error> {
    if bytes.len() > max_bytes {
        return Err(Error::TooLarge {
            what,
            size: bytes.len(),
            limit: max_bytes,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| Error::Utf8 {
        offset: e.valid_up_to(),
    })?;
    if text.starts_with('\u{feff}') {
        return Err(Error::Syntax {
            offset: 0,
            message: "a byte order mark is not allowed".into(),
        });
    }
    Ok(text)
}

/// [`run`] on text that passed [`checked_text`].
pub(crate) fn run_text<T>(
    text: &str,
    limits: &Limits,
    decode: impl for<'de> FnOnce(&mut JsonDeserializer<'de>, &Ctx<'_>) -> Result<T, serde_json::Error>,
) -> Result<T, Error> {
    let ctx = Ctx::new(limits, text);
    let mut de = serde_json::Deserializer::from_str(text);
    let result = decode(&mut de, &ctx).and_then(|value| de.end().map(|()| value));
    result.map_err(|e| convert(&e, text, &ctx))
}

fn convert(e: &serde_json::Error, text: &str, ctx: &Ctx<'_>) -> Error {
    let offset = crate::position::byte_offset(text.as_bytes(), e.line(), e.column());
    let path = ReversePath(std::mem::take(&mut *ctx.path.borrow_mut())).to_string();
    if let Some((what, limit)) = ctx.limit_hit.get() {
        return Error::Limit {
            what,
            limit,
            path,
            offset,
        };
    }
    let full = e.to_string();
    let message = match full.rfind(" at line ") {
        Some(cut) => full[..cut].to_owned(),
        None => full,
    };
    match e.classify() {
        serde_json::error::Category::Data => Error::Invalid {
            path,
            offset,
            message,
        },
        _ => Error::Syntax { offset, message },
    }
}

// ---------------------------------------------------------------------------
// Building blocks

/// A member name or string value, borrowed when it holds no escapes.
#[derive(Clone, Copy)]
struct Str<'c, 'l> {
    ctx: &'c Ctx<'l>,
    expected: &'static str,
}

impl<'de> DeserializeSeed<'de> for Str<'_, '_> {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Str<'_, '_> {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected)
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        self.ctx.check_string(v)?;
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.ctx.check_string(v)?;
        Ok(Cow::Owned(v.to_owned()))
    }
}

fn next_key<'de, A: MapAccess<'de>>(
    map: &mut A,
    ctx: &Ctx<'_>,
) -> Result<Option<Cow<'de, str>>, A::Error> {
    map.next_key_seed(Str {
        ctx,
        expected: "a member name",
    })
}

/// Walks the members of an object: known members (by index into `names`) go
/// to `on_known`, which must consume the value; unknown members are skipped
/// (checked, never kept). A member name seen twice is an error.
fn members<'de, A: MapAccess<'de>>(
    map: &mut A,
    ctx: &Ctx<'_>,
    names: &[&'static str],
    mut on_known: impl FnMut(&mut A, usize) -> Result<(), A::Error>,
) -> Result<(), A::Error> {
    let mut seen = 0u32;
    let mut unknown: Vec<Cow<'de, str>> = Vec::new();
    while let Some(name) = next_key(map, ctx)? {
        if let Some(index) = names.iter().position(|n| *n == name) {
            if seen & (1 << index) != 0 {
                return Err(de::Error::custom(format_args!("duplicate member {name:?}")));
            }
            seen |= 1 << index;
            ctx.at_key(&name, on_known(map, index))?;
        } else {
            ctx.at_key(&name, map.next_value_seed(Skip { ctx }))?;
            if unknown.contains(&name) {
                return Err(de::Error::custom(format_args!("duplicate member {name:?}")));
            }
            unknown.push(name);
        }
    }
    Ok(())
}

fn missing<E: de::Error>(name: &str) -> E {
    E::custom(format_args!("missing member {name:?}"))
}

/// Reads a string value and converts it with `parse`.
fn parse_str<'de, A: MapAccess<'de>, T>(
    map: &mut A,
    ctx: &Ctx<'_>,
    expected: &'static str,
    parse: impl FnOnce(Cow<'de, str>) -> Result<T, String>,
) -> Result<T, A::Error> {
    let text = map.next_value_seed(Str { ctx, expected })?;
    parse(text).map_err(de::Error::custom)
}

/// Reads a URI string value (length-limited) and converts it with `parse`.
fn parse_uri<'de, A: MapAccess<'de>, T>(
    map: &mut A,
    ctx: &Ctx<'_>,
    parse: impl FnOnce(&str) -> Result<T, dm_types::Error>,
) -> Result<T, A::Error> {
    let text = map.next_value_seed(Str {
        ctx,
        expected: "a URI string",
    })?;
    ctx.check_uri(&text)?;
    parse(&text).map_err(de::Error::custom)
}

/// Skips a value, still checking duplicate members, escapes, string lengths
/// and depth.
struct Skip<'c, 'l> {
    ctx: &'c Ctx<'l>,
}

impl<'de> DeserializeSeed<'de> for Skip<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.ctx.check_string(v)
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.ctx.enter()?;
        let mut index = 0;
        while self
            .ctx
            .at_index(index, seq.next_element_seed(Skip { ctx: self.ctx }))?
            .is_some()
        {
            index += 1;
        }
        self.ctx.leave();
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.ctx.enter()?;
        let mut names = Vec::new();
        while let Some(name) = next_key(&mut map, self.ctx)? {
            self.ctx
                .at_key(&name, map.next_value_seed(Skip { ctx: self.ctx }))?;
            names.push(name);
        }
        reject_duplicates(names)?;
        self.ctx.leave();
        Ok(())
    }
}

fn reject_duplicates<E: de::Error>(mut names: Vec<Cow<'_, str>>) -> Result<(), E> {
    names.sort_unstable();
    if let Some([name, _]) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(E::custom(format_args!("duplicate member {name:?}")));
    }
    Ok(())
}

/// Reads an array whose elements come from `element`, stopping with a limit
/// error before reading element number `max` (when given).
struct ArrayOf<'c, 'l, F> {
    ctx: &'c Ctx<'l>,
    expected: &'static str,
    max: Option<(&'static str, usize)>,
    /// Elements to make room for at once (a hint; the vector grows beyond).
    capacity: usize,
    element: F,
}

impl<'de, S, F> DeserializeSeed<'de> for ArrayOf<'_, '_, F>
where
    S: DeserializeSeed<'de>,
    F: FnMut() -> S,
{
    type Value = Vec<S::Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, S, F> Visitor<'de> for ArrayOf<'_, '_, F>
where
    S: DeserializeSeed<'de>,
    F: FnMut() -> S,
{
    type Value = Vec<S::Value>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected)
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Self::Value, A::Error> {
        let ctx = self.ctx;
        let mut out = Vec::with_capacity(self.capacity);
        loop {
            let index = out.len();
            if let Some((what, limit)) = self.max
                && index == limit
            {
                // Reading one more element would exceed the limit.
                return match ctx.at_index(index, seq.next_element_seed(Skip { ctx }))? {
                    None => Ok(out),
                    Some(()) => ctx.at_index(index, Err(ctx.limit(what, limit))),
                };
            }
            match ctx.at_index(index, seq.next_element_seed((self.element)()))? {
                Some(value) => out.push(value),
                None => return Ok(out),
            }
        }
    }
}

fn array_of<'c, 'l, F>(ctx: &'c Ctx<'l>, expected: &'static str, element: F) -> ArrayOf<'c, 'l, F> {
    ArrayOf {
        ctx,
        expected,
        max: None,
        capacity: 0,
        element,
    }
}

/// Implements a seed whose value is read by `deserialize_map` and the given
/// `visit_map` body.
macro_rules! object_seed {
    ($seed:ident, $value:ty, $expected:literal, |$this:ident, $map:ident| $body:block) => {
        impl<'de> DeserializeSeed<'de> for $seed<'_, '_> {
            type Value = $value;
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<$value, D::Error> {
                d.deserialize_map(self)
            }
        }

        impl<'de> Visitor<'de> for $seed<'_, '_> {
            type Value = $value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($expected)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut $map: A) -> Result<$value, A::Error> {
                let $this = self;
                $body
            }
        }
    };
}

// ---------------------------------------------------------------------------
// Package#1

struct Package1Seed<'c, 'l> {
    ctx: &'c Ctx<'l>,
}

object_seed!(Package1Seed, Package1, "a Package#1 object", |this, map| {
    let ctx = this.ctx;
    let mut package = Package1::default();
    members(&mut map, ctx, &["MOS", "Alert"], |map, index| {
        if index == 0 {
            let seed = array_of(ctx, "an array of MO entries", || MosEntrySeed { ctx });
            package.mos = Some(map.next_value_seed(seed)?);
        } else {
            package.alerts = map.next_value_seed(alerts(ctx))?;
        }
        Ok(())
    })?;
    Ok(package)
});

struct MosEntrySeed<'c, 'l> {
    ctx: &'c Ctx<'l>,
}

object_seed!(MosEntrySeed, MosEntry, "an MO entry object", |this, map| {
    let ctx = this.ctx;
    let (mut ddf, mut moid, mut miids) = (None, None, None);
    members(&mut map, ctx, &["DDF", "MOID", "MIID"], |map, index| {
        match index {
            0 => ddf = Some(parse_uri(map, ctx, |t| DdfUri::new(t))?),
            1 => moid = Some(parse_uri(map, ctx, |t| Moid::new(t))?),
            _ => {
                let seed = array_of(ctx, "an array of MIID strings", || MiidSeed { ctx });
                miids = Some(map.next_value_seed(seed)?);
            }
        }
        Ok(())
    })?;
    Ok(MosEntry {
        ddf,
        moid: moid.ok_or_else(|| missing("MOID"))?,
        miids: miids.ok_or_else(|| missing("MIID"))?,
    })
});

struct MiidSeed<'c, 'l> {
    ctx: &'c Ctx<'l>,
}

impl<'de> DeserializeSeed<'de> for MiidSeed<'_, '_> {
    type Value = Miid;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Miid, D::Error> {
        let text = Str {
            ctx: self.ctx,
            expected: "a MIID string",
        }
        .deserialize(d)?;
        Miid::new(text.into_owned()).map_err(de::Error::custom)
    }
}

// ---------------------------------------------------------------------------
// Package#2

struct Package2Seed<'c, 'l> {
    ctx: &'c Ctx<'l>,
}

object_seed!(Package2Seed, Package2, "a Package#2 object", |this, map| {
    let ctx = this.ctx;
    let mut commands = None;
    members(&mut map, ctx, &["CMD"], |map, _| {
        let words = RefCell::new(Vec::new());
        let seed = ArrayOf {
            ctx,
            expected: "an array of commands",
            max: Some(("command count", ctx.limits.commands)),
            capacity: command_count_bound(ctx.input, ctx.limits),
            element: || CommandSeed { ctx, words: &words },
        };
        let entries = map.next_value_seed(seed)?;
        commands = Some(Package2::new(entries).map_err(de::Error::custom)?);
        Ok(())
    })?;
    commands.ok_or_else(|| missing("CMD"))
});

/// An upper bound of the number of commands, to allocate the command list
/// once: every command opens a `[` (and so does `CMD`), so there are at
/// most as many commands as `[` bytes minus one, and never more than the
/// command limit. A `[` inside a string only makes the bound looser.
pub(crate) fn command_count_bound(text: &str, limits: &Limits) -> usize {
    // Counted in chunks of 255 bytes with a byte-sized counter each, which
    // the compiler turns into vector instructions.
    let brackets: usize = text
        .as_bytes()
        .chunks(255)
        .map(|chunk| usize::from(chunk.iter().fold(0u8, |n, &b| n + u8::from(b == b'['))))
        .sum();
    brackets.saturating_sub(1).min(limits.commands)
}

/// One command; `words` is a buffer of borrowed strings reused across
/// commands.
struct CommandSeed<'c, 'l, 'w, 'de> {
    ctx: &'c Ctx<'l>,
    words: &'w RefCell<Vec<Cow<'de, str>>>,
}

impl<'de> DeserializeSeed<'de> for CommandSeed<'_, '_, '_, 'de> {
    type Value = CommandEntry;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for CommandSeed<'_, '_, '_, 'de> {
    type Value = CommandEntry;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a command: a non-empty array of strings")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CommandEntry, A::Error> {
        let ctx = self.ctx;
        let mut words = self.words.borrow_mut();
        words.clear();
        let word = Str {
            ctx,
            expected: "a string (command name or parameter)",
        };
        while let Some(text) = ctx.at_index(words.len(), seq.next_element_seed(word))? {
            if !words.is_empty() {
                ctx.at_index(words.len(), ctx.check_uri(&text))?;
            }
            words.push(text);
        }
        if words.is_empty() {
            return Err(de::Error::custom("a command must not be an empty array"));
        }
        Ok(match Command::from_words(&words) {
            Ok(command) => CommandEntry::Command(command),
            Err(error) => CommandEntry::Invalid(InvalidCommand {
                words: words.drain(..).map(Cow::into_owned).collect(),
                error,
            }),
        })
    }
}

// ---------------------------------------------------------------------------
// Package#3

struct Package3Seed<'c, 'l> {
    ctx: &'c Ctx<'l>,
}

object_seed!(Package3Seed, Package3, "a Package#3 object", |this, map| {
    let ctx = this.ctx;
    let mut statuses = None;
    let mut alert_list = Vec::new();
    members(&mut map, ctx, &["Status", "Alert"], |map, index| {
        if index == 0 {
            let seed = ArrayOf {
                ctx,
                expected: "an array of status objects",
                max: Some(("status count", ctx.limits.commands)),
                capacity: 0,
                element: || StatusSeed { ctx },
            };
            statuses = Some(map.next_value_seed(seed)?);
        } else {
            alert_list = map.next_value_seed(alerts(ctx))?;
        }
        Ok(())
    })?;
    Ok(Package3 {
        statuses: statuses.ok_or_else(|| missing("Status"))?,
        alerts: alert_list,
    })
});

struct StatusSeed<'c, 'l> {
    ctx: &'c Ctx<'l>,
}

object_seed!(StatusSeed, Status, "a status object", |this, map| {
    let ctx = this.ctx;
    let mut code = None;
    let mut uris = Vec::new();
    let mut data = Vec::new();
    members(&mut map, ctx, &["sc", "URI", "Data"], |map, index| {
        match index {
            0 => code = Some(map.next_value_seed(StatusCodeSeed)?),
            1 => {
                let seed = array_of(ctx, "an array of ClientURI strings", || ClientUriSeed {
                    ctx,
                });
                uris = map.next_value_seed(seed)?;
            }
            _ => data = map.next_value_seed(mo_items(ctx))?,
        }
        Ok(())
    })?;
    Ok(Status {
        code: code.ok_or_else(|| missing("sc"))?,
        uris,
        data,
    })
});

struct StatusCodeSeed;

impl<'de> DeserializeSeed<'de> for StatusCodeSeed {
    type Value = StatusCode;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<StatusCode, D::Error> {
        d.deserialize_any(self)
    }
}

impl Visitor<'_> for StatusCodeSeed {
    type Value = StatusCode;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer status code from 100 to 599, without fraction or exponent")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<StatusCode, E> {
        u32::try_from(v)
            .map_err(|_| dm_types::Error::StatusCode(u32::MAX))
            .and_then(StatusCode::new)
            .map_err(E::custom)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<StatusCode, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom(format_args!(
                "status code {v} is outside 100..=599"
            ))),
        }
    }
}

struct ClientUriSeed<'c, 'l> {
    ctx: &'c Ctx<'l>,
}

impl<'de> DeserializeSeed<'de> for ClientUriSeed<'_, '_> {
    type Value = ClientUri;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ClientUri, D::Error> {
        let text = Str {
            ctx: self.ctx,
            expected: "a ClientURI string",
        }
        .deserialize(d)?;
        self.ctx.check_uri(&text)?;
        ClientUri::parse(&text).map_err(de::Error::custom)
    }
}

// ---------------------------------------------------------------------------
// Alerts

fn alerts<'c, 'l>(ctx: &'c Ctx<'l>) -> ArrayOf<'c, 'l, impl FnMut() -> AlertSeed<'c, 'l>> {
    array_of(ctx, "an array of alerts", move || AlertSeed { ctx })
}

struct AlertSeed<'c, 'l> {
    ctx: &'c Ctx<'l>,
}

object_seed!(AlertSeed, Alert, "an alert object", |this, map| {
    let ctx = this.ctx;
    let mut alert_type = None;
    let (mut source_uri, mut target_uri, mut mark, mut data_type, mut data) =
        (None, None, None, None, None);
    let names = [
        "AlertType",
        "SourceURI",
        "TargetURI",
        "Mark",
        "DataType",
        "Data",
    ];
    members(&mut map, ctx, &names, |map, index| {
        let text = |map: &mut A| parse_str(map, ctx, "a string", |t| Ok(t.into_owned()));
        match index {
            0 => {
                alert_type = Some(parse_str(map, ctx, "a string", |t| {
                    AlertType::new(t.into_owned()).map_err(|e| e.to_string())
                })?);
            }
            1 => source_uri = Some(text(map)?),
            2 => target_uri = Some(text(map)?),
            3 => {
                mark = Some(parse_str(map, ctx, "a string", |t| {
                    Mark::from_name(&t).ok_or_else(|| format!("unknown Mark {t:?}"))
                })?);
            }
            4 => data_type = Some(text(map)?),
            _ => data = Some(map.next_value_seed(JsonObjectSeed { ctx })?),
        }
        Ok(())
    })?;
    Ok(Alert {
        alert_type: alert_type.ok_or_else(|| missing("AlertType"))?,
        source_uri,
        target_uri,
        mark,
        data_type,
        data,
    })
});

/// A JSON object of free content (alert `Data`), with duplicate, length and
/// depth checks.
struct JsonObjectSeed<'c, 'l> {
    ctx: &'c Ctx<'l>,
}

object_seed!(JsonObjectSeed, JsonObject, "a JSON object", |this, map| {
    let ctx = this.ctx;
    ctx.enter()?;
    let mut object = JsonObject::new();
    while let Some(name) = next_key(&mut map, ctx)? {
        let value = ctx.at_key(&name, map.next_value_seed(JsonValueSeed { ctx }))?;
        if object.insert(name.to_string(), value).is_some() {
            return Err(de::Error::custom(format_args!("duplicate member {name:?}")));
        }
    }
    ctx.leave();
    Ok(object)
});

struct JsonValueSeed<'c, 'l> {
    ctx: &'c Ctx<'l>,
}

impl<'de> DeserializeSeed<'de> for JsonValueSeed<'_, '_> {
    type Value = serde_json::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for JsonValueSeed<'_, '_> {
    type Value = serde_json::Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        serde_json::Number::from_f64(v)
            .map(serde_json::Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.ctx.check_string(v)?;
        Ok(v.into())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let ctx = self.ctx;
        ctx.enter()?;
        let mut out = Vec::new();
        while let Some(v) = ctx.at_index(out.len(), seq.next_element_seed(JsonValueSeed { ctx }))? {
            out.push(v);
        }
        ctx.leave();
        Ok(serde_json::Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        JsonObjectSeed { ctx: self.ctx }
            .visit_map(map)
            .map(serde_json::Value::Object)
    }
}

// ---------------------------------------------------------------------------
// MO serialization

fn mo_items<'c, 'l>(ctx: &'c Ctx<'l>) -> ArrayOf<'c, 'l, impl FnMut() -> MoItemSeed<'c, 'l>> {
    array_of(ctx, "an MO serialization array", move || MoItemSeed { ctx })
}

struct MoItemSeed<'c, 'l> {
    ctx: &'c Ctx<'l>,
}

object_seed!(
    MoItemSeed,
    MoItem,
    "an MO serialization object",
    |this, map| {
        let ctx = this.ctx;
        let (mut ddf, mut client_uri, mut cache_validator, mut data) = (None, None, None, None);
        members(
            &mut map,
            ctx,
            &["DDF", "ClientURI", "CV", "MOData"],
            |map, index| {
                match index {
                    0 => ddf = Some(parse_uri(map, ctx, |t| DdfUri::new(t))?),
                    1 => client_uri = Some(map.next_value_seed(ClientUriSeed { ctx })?),
                    2 => {
                        cache_validator = Some(parse_str(map, ctx, "a string", |t| {
                            CacheValidator::new(t.into_owned()).map_err(|e| e.to_string())
                        })?);
                    }
                    _ => data = Some(map.next_value_seed(MoDataSeed { ctx })?),
                }
                Ok(())
            },
        )?;
        Ok(MoItem {
            ddf,
            client_uri: client_uri.ok_or_else(|| missing("ClientURI"))?,
            cache_validator,
            data: data.ok_or_else(|| missing("MOData"))?,
        })
    }
);

/// `MOData`: an object with exactly one member.
struct MoDataSeed<'c, 'l> {
    ctx: &'c Ctx<'l>,
}

object_seed!(
    MoDataSeed,
    MoData,
    "an MOData object with exactly one member",
    |this, map| {
        let ctx = this.ctx;
        let Some(name) = next_key(&mut map, ctx)? else {
            return Err(de::Error::custom(
                "MOData must have exactly one member, found none",
            ));
        };
        let node_name = NodeName::new(name.as_ref()).map_err(de::Error::custom);
        let node_name = ctx.at_key(&name, node_name)?;
        let node = ctx.at_key(&name, map.next_value_seed(MoNodeSeed { ctx }))?;
        if next_key(&mut map, ctx)?.is_some() {
            return Err(de::Error::custom("MOData must have exactly one member"));
        }
        Ok(MoData::new(node_name, node))
    }
);

struct MoNodeSeed<'c, 'l> {
    ctx: &'c Ctx<'l>,
}

impl<'de> DeserializeSeed<'de> for MoNodeSeed<'_, '_> {
    type Value = MoNode;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<MoNode, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MoNodeSeed<'_, '_> {
    type Value = MoNode;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an MO node: an object (interior) or a string, number, boolean or null (leaf)")
    }
    fn visit_bool<E>(self, v: bool) -> Result<MoNode, E> {
        Ok(MoNode::Leaf(LeafValue::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<MoNode, E> {
        Ok(MoNode::Leaf(LeafValue::Int(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<MoNode, E> {
        i64::try_from(v)
            .map(|v| MoNode::Leaf(LeafValue::Int(v)))
            .map_err(|_| {
                E::custom(format_args!(
                    "integer {v} is outside the 64-bit signed range"
                ))
            })
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<MoNode, E> {
        FiniteF64::new(v)
            .map(|v| MoNode::Leaf(LeafValue::Float(v)))
            .ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<MoNode, E> {
        self.visit_str(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<MoNode, E> {
        self.ctx.check_string(v)?;
        Ok(MoNode::Leaf(LeafValue::Text(v.to_owned())))
    }
    fn visit_unit<E>(self) -> Result<MoNode, E> {
        Ok(MoNode::Leaf(LeafValue::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<MoNode, A::Error> {
        Err(de::Error::custom("arrays are not allowed inside MOData"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MoNode, A::Error> {
        let ctx = self.ctx;
        ctx.enter()?;
        // Children gather on one stack shared by every level, then move into
        // a vector of exactly their number: one allocation per object.
        let start = ctx.children.borrow().len();
        let gathered = (|| {
            while let Some(name) = next_key(&mut map, ctx)? {
                let node_name = ctx.at_key(
                    &name,
                    NodeName::new(name.as_ref()).map_err(de::Error::custom),
                )?;
                let node = ctx.at_key(&name, map.next_value_seed(MoNodeSeed { ctx }))?;
                ctx.children.borrow_mut().push((node_name, node));
            }
            Ok(())
        })();
        let children: Vec<_> = ctx.children.borrow_mut().drain(start..).collect();
        gathered?;
        ctx.leave();
        Children::new(children)
            .map(MoNode::Interior)
            .map_err(|_| de::Error::custom("duplicate member name (two children share a name)"))
    }
}

// ---------------------------------------------------------------------------
// Entry points

pub(crate) fn package1(
    de: &mut JsonDeserializer<'_>,
    ctx: &Ctx<'_>,
) -> Result<Package1, serde_json::Error> {
    Package1Seed { ctx }.deserialize(de)
}

pub(crate) fn package2(
    de: &mut JsonDeserializer<'_>,
    ctx: &Ctx<'_>,
) -> Result<Package2, serde_json::Error> {
    Package2Seed { ctx }.deserialize(de)
}

/// One command of Package#2 in its array form, with the decoder and limits
/// of a Package#2's commands.
pub(crate) fn command(
    de: &mut JsonDeserializer<'_>,
    ctx: &Ctx<'_>,
) -> Result<CommandEntry, serde_json::Error> {
    let words = RefCell::new(Vec::new());
    CommandSeed { ctx, words: &words }.deserialize(de)
}

pub(crate) fn package3(
    de: &mut JsonDeserializer<'_>,
    ctx: &Ctx<'_>,
) -> Result<Package3, serde_json::Error> {
    Package3Seed { ctx }.deserialize(de)
}

pub(crate) fn mo_serialization(
    de: &mut JsonDeserializer<'_>,
    ctx: &Ctx<'_>,
) -> Result<Vec<MoItem>, serde_json::Error> {
    mo_items(ctx).deserialize(de)
}

pub(crate) fn alert(
    de: &mut JsonDeserializer<'_>,
    ctx: &Ctx<'_>,
) -> Result<Alert, serde_json::Error> {
    AlertSeed { ctx }.deserialize(de)
}

pub(crate) fn json_value(
    de: &mut JsonDeserializer<'_>,
    ctx: &Ctx<'_>,
) -> Result<serde_json::Value, serde_json::Error> {
    JsonValueSeed { ctx }.deserialize(de)
}
