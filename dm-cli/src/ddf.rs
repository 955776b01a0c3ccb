//! `dm ddf [--outline] FILE`: parse a DDF document and print its summary as
//! one line of JSON, or an indented outline. Departures from the DDF DTD
//! that the reader understood are listed under `warnings` (JSON) or on
//! standard error (outline), each with its line and column.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use dm_ddf::{DfType, Limits, MoDefinition, NodeDefinition, Warning};
use serde_json::{Map, Value, json};

/// Arguments of `dm ddf`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Print an indented human outline instead of JSON.
    #[arg(long)]
    outline: bool,
    /// The DDF file.
    file: PathBuf,
}

pub(crate) fn run(args: &Args) -> ExitCode {
    let bytes = match crate::input::read(Some(&args.file)) {
        Ok(bytes) => bytes,
        Err(e) => return crate::fail(e),
    };
    let parsed = match MoDefinition::parse_with_warnings(&bytes, &Limits::default()) {
        Ok(parsed) => parsed,
        Err(e) => return crate::fail(format_args!("{}: {e}", args.file.display())),
    };
    if args.outline {
        for warning in &parsed.warnings {
            eprintln!("warning: {}: {warning}", args.file.display());
        }
        crate::print_line(outline(&parsed.definition))
    } else {
        crate::print_line(summary(&parsed.definition, &parsed.warnings))
    }
}

/// `{"moid": <top DDFName or null>, "nodes": N, "max_depth": D, "tree": [...],
/// "warnings": [...]}`.
fn summary(def: &MoDefinition, warnings: &[Warning]) -> Value {
    json!({
        "moid": def.ddf_name(),
        "nodes": def.node_count(),
        "max_depth": def.max_depth(),
        "tree": def.nodes.iter().map(node_json).collect::<Vec<_>>(),
        "warnings": warnings.iter().map(warning_json).collect::<Vec<_>>(),
    })
}

/// `{"line", "column", "offset", "path", "kind", "message"}`: `kind` is the
/// stable code of the warning kind, `message` its text.
fn warning_json(warning: &Warning) -> Value {
    json!({
        "line": warning.position.line,
        "column": warning.position.column,
        "offset": warning.position.offset,
        "path": warning.path,
        "kind": warning.kind.code(),
        "message": warning.kind.to_string(),
    })
}

/// One node definition and its children. Recursion depth is bounded by the
/// parser's nesting limit.
fn node_json(node: &NodeDefinition) -> Value {
    let mut object = Map::new();
    object.insert("name".into(), node.name.to_string().into());
    if let Some(path) = &node.path {
        object.insert("path".into(), path.as_str().into());
    }
    object.insert("format".into(), node.format.name().into());
    object.insert(
        "access".into(),
        node.access_type.names().collect::<Vec<_>>().into(),
    );
    object.insert("occurrence".into(), node.occurrence.to_string().into());
    object.insert("scope".into(), node.scope.name().into());
    object.insert("case_sense".into(), node.case_sense.name().into());
    match &node.df_type {
        Some(DfType::Mime(mime)) => {
            object.insert("mime".into(), mime.as_str().into());
        }
        Some(DfType::DdfName(name)) => {
            object.insert("ddf_name".into(), name.as_str().into());
        }
        None => {}
    }
    let texts = [
        ("default_value", &node.default_value),
        ("title", &node.title),
        ("description", &node.description),
        ("value", &node.value),
    ];
    for (key, text) in texts {
        if let Some(text) = text {
            object.insert(key.into(), text.as_str().into());
        }
    }
    if !node.extensions.is_empty() {
        let names: Vec<&str> = node.extensions.iter().map(|e| e.name.as_str()).collect();
        object.insert("extensions".into(), names.into());
    }
    object.insert(
        "children".into(),
        node.children
            .iter()
            .map(node_json)
            .collect::<Vec<_>>()
            .into(),
    );
    Value::Object(object)
}

/// A header line, then one line per node definition, indented two spaces
/// per level: `name (format, access, occurrence, scope)`.
fn outline(def: &MoDefinition) -> String {
    let mut text = format!(
        "MgmtTree VerDTD {}, DDFName {}, {} nodes, depth {}",
        def.ver_dtd,
        def.ddf_name().unwrap_or("(none)"),
        def.node_count(),
        def.max_depth()
    );
    for (depth, node) in def {
        let access = if node.access_type.is_empty() {
            "no access".to_owned()
        } else {
            node.access_type.to_string()
        };
        let _ = write!(
            text,
            "\n{:indent$}{} ({}, {access}, {}, {})",
            "",
            node.name,
            node.format,
            node.occurrence,
            node.scope,
            indent = 2 * (depth - 1)
        );
    }
    text
}
