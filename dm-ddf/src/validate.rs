//! Validation of MO data (`MoData`) against a definition.

use dm_types::{MoData, MoNode};

use crate::violation::{Violation, ViolationKind};
use crate::{Error, MoDefinition, NodeDefinition};

impl MoDefinition {
    /// Checks MO data against the definition and reports every violation
    /// ([`Error::Invalid`]): unknown nodes, missing required nodes,
    /// occurrences exceeded and values of the wrong format.
    ///
    /// The data's node is matched against the top-level definitions like
    /// [`MoDefinition::root`]; to check the data of a node further down,
    /// look its definition up and use [`NodeDefinition::validate`].
    ///
    /// ```
    /// use dm_types::{Children, LeafValue, MoData, MoNode, NodeName};
    ///
    /// let leaf = |v: LeafValue| MoNode::Leaf(v);
    /// let data = MoData::new(
    ///     NodeName::new("SessionInfo")?,
    ///     MoNode::Interior(Children::new(vec![
    ///         (NodeName::new("CBT")?, leaf("WLAN".into())),
    ///         (NodeName::new("Initiator")?, leaf(7.into())),
    ///         (NodeName::new("Color")?, leaf("blue".into())),
    ///     ])?),
    /// );
    /// let err = dm_ddf::standard::sessioninfo().validate(&data).unwrap_err();
    /// let paths: Vec<String> = err.violations().iter().map(|v| v.to_string()).collect();
    /// assert_eq!(paths, [
    ///     "SessionInfo/Color: no such node in the definition",
    ///     "SessionInfo/Initiator: does not fit format chr: expected a string",
    ///     "SessionInfo/SrvID: required node is missing",
    ///     "SessionInfo/StartTime: required node is missing",
    /// ]);
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    pub fn validate(&self, data: &MoData) -> Result<(), Error> {
        let mut violations = Vec::new();
        let name = data.name().as_str();
        match self.root(name) {
            Some(def) => check(def, name.to_owned(), data.node(), &mut violations),
            None => violations.push(Violation {
                path: name.to_owned(),
                kind: ViolationKind::UnknownNode,
            }),
        }
        finish(violations)
    }
}

impl NodeDefinition {
    /// Checks the data of a node against this definition (the data's name
    /// must match it) and reports every violation, with paths starting at
    /// the data's name.
    ///
    /// ```
    /// use dm_types::{LeafValue, MoData, MoNode, NodeName};
    ///
    /// let dmacc = dm_ddf::standard::dmacc();
    /// let def = dmacc.lookup_path("x/Auth/Noti/Type").expect("defined");
    /// let ok = MoData::new(NodeName::new("Type")?, MoNode::Leaf(LeafValue::Int(1)));
    /// assert!(def.validate(&ok).is_ok());
    /// let bad = MoData::new(NodeName::new("Type")?, MoNode::Leaf(LeafValue::from("one")));
    /// assert_eq!(def.validate(&bad).unwrap_err().violations()[0].path, "Type");
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    pub fn validate(&self, data: &MoData) -> Result<(), Error> {
        let mut violations = Vec::new();
        let name = data.name().as_str();
        if self.matches(name) {
            check(self, name.to_owned(), data.node(), &mut violations);
        } else {
            violations.push(Violation {
                path: name.to_owned(),
                kind: ViolationKind::UnknownNode,
            });
        }
        finish(violations)
    }
}

fn finish(violations: Vec<Violation>) -> Result<(), Error> {
    if violations.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(violations))
    }
}

/// Checks `node` (at `path`) against `def`. Recursion follows the
/// definition, whose depth the parser bounds; data below an unknown node, an
/// open node or a vendor child of an extension point is not visited.
fn check(def: &NodeDefinition, path: String, node: &MoNode, out: &mut Vec<Violation>) {
    let wrong_format = |reason: String| ViolationKind::WrongFormat {
        format: def.format,
        reason,
    };
    match node {
        MoNode::Leaf(value) if def.is_interior() => out.push(Violation {
            path,
            kind: wrong_format(format!(
                "a {} leaf where an interior node is defined",
                value.kind()
            )),
        }),
        MoNode::Leaf(value) => {
            if let Err(e) = value.clone().conform(def.format) {
                let reason = match e {
                    dm_types::Error::Format { reason, .. } => reason.to_owned(),
                    other => other.to_string(),
                };
                out.push(Violation {
                    path,
                    kind: wrong_format(reason),
                });
            }
        }
        MoNode::Interior(_) if !def.is_interior() => out.push(Violation {
            path,
            kind: wrong_format("an interior node where a leaf is defined".to_owned()),
        }),
        MoNode::Interior(_) if def.is_open() => {}
        MoNode::Interior(children) => {
            let mut counts = vec![0usize; def.children.len()];
            for (name, child) in children.iter() {
                let child_path = format!("{path}/{name}");
                let matched = def
                    .children
                    .iter()
                    .position(|d| d.name.as_named() == Some(name.as_str()))
                    .or_else(|| def.children.iter().position(|d| d.name.is_placeholder()));
                match matched {
                    Some(i) => {
                        counts[i] += 1;
                        check(&def.children[i], child_path, child, out);
                    }
                    None if def.is_extension_point() => {}
                    None => out.push(Violation {
                        path: child_path,
                        kind: ViolationKind::UnknownNode,
                    }),
                }
            }
            for (child_def, count) in def.children.iter().zip(counts) {
                let occurrence = child_def.occurrence;
                if count == 0 && occurrence.min() > 0 {
                    out.push(Violation {
                        path: format!("{path}/{}", child_def.name),
                        kind: ViolationKind::MissingNode,
                    });
                } else if !occurrence.allows(count) {
                    out.push(Violation {
                        path: format!("{path}/{}", child_def.name),
                        kind: ViolationKind::OccurrenceExceeded { occurrence, count },
                    });
                }
            }
        }
    }
}
