//! The protocol rules of SCOMO (docs/protocol.md section 13.2) as pure
//! functions: which node executes which operation, where a component stands
//! after it, and which component a result alert names.

/// Where a software component stands in a SCOMO instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComponentPlace {
    /// Described under `Download/<x>`: not (or no longer being) downloaded.
    Download,
    /// Downloaded, not installed: `Inventory/Delivered/<x>`.
    Delivered,
    /// Installed: `Inventory/Deployed/<x>`, `State` active or inactive.
    Deployed {
        /// `State` is `active`.
        active: bool,
    },
    /// Removed from the device.
    Removed,
}

impl ComponentPlace {
    /// The entry of component `name` at this place, relative to the
    /// instance root (`Download/<x>`, `Inventory/Delivered/<x>`,
    /// `Inventory/Deployed/<x>`); `None` for [`ComponentPlace::Removed`].
    ///
    /// ```
    /// use dm_client::update::ComponentPlace;
    /// assert_eq!(ComponentPlace::Delivered.entry("app").as_deref(), Some("Inventory/Delivered/app"));
    /// assert_eq!(ComponentPlace::Removed.entry("app"), None);
    /// ```
    pub fn entry(self, name: &str) -> Option<String> {
        match self {
            ComponentPlace::Download => Some(format!("Download/{name}")),
            ComponentPlace::Delivered => Some(format!("Inventory/Delivered/{name}")),
            ComponentPlace::Deployed { .. } => Some(format!("Inventory/Deployed/{name}")),
            ComponentPlace::Removed => None,
        }
    }
}

/// How an operation ended, as far as where the component goes is
/// concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationEnd {
    /// Every step succeeded.
    Succeeded,
    /// The download failed: nothing was delivered.
    DownloadFailed,
    /// The operation itself (install, activation, removal) failed, after
    /// any download succeeded.
    Failed,
    /// The operation did not run (another one on the component was
    /// running).
    Refused,
}

/// An executable SCOMO operation, named by its node
/// (`<entry>/Operations/<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScomoOperation {
    /// `Download/<x>/Operations/Download`: download and deliver.
    Download,
    /// `Download/<x>/Operations/DownloadInstall`: download, install active.
    DownloadInstall,
    /// `Download/<x>/Operations/DownloadInstallInactive`: download, install
    /// inactive.
    DownloadInstallInactive,
    /// `Inventory/Delivered/<x>/Operations/Install`: install active.
    Install,
    /// `Inventory/Delivered/<x>/Operations/InstallInactive`.
    InstallInactive,
    /// `Inventory/Delivered/<x>/Operations/Remove`: discard the package.
    RemoveDelivered,
    /// `Inventory/Deployed/<x>/Operations/Activate`.
    Activate,
    /// `Inventory/Deployed/<x>/Operations/Deactivate`.
    Deactivate,
    /// `Inventory/Deployed/<x>/Operations/Remove`: uninstall.
    RemoveDeployed,
}

impl ScomoOperation {
    /// Every operation.
    pub const ALL: [ScomoOperation; 9] = [
        ScomoOperation::Download,
        ScomoOperation::DownloadInstall,
        ScomoOperation::DownloadInstallInactive,
        ScomoOperation::Install,
        ScomoOperation::InstallInactive,
        ScomoOperation::RemoveDelivered,
        ScomoOperation::Activate,
        ScomoOperation::Deactivate,
        ScomoOperation::RemoveDeployed,
    ];

    /// The operations of entries at `place`, which carry one leaf each
    /// under `Operations/`.
    pub fn of(place: ComponentPlace) -> &'static [ScomoOperation] {
        match place {
            ComponentPlace::Download => &Self::ALL[0..3],
            ComponentPlace::Delivered => &Self::ALL[3..6],
            ComponentPlace::Deployed { .. } => &Self::ALL[6..9],
            ComponentPlace::Removed => &[],
        }
    }

    /// The name of the operation's node.
    pub fn node_name(self) -> &'static str {
        match self {
            ScomoOperation::Download => "Download",
            ScomoOperation::DownloadInstall => "DownloadInstall",
            ScomoOperation::DownloadInstallInactive => "DownloadInstallInactive",
            ScomoOperation::Install => "Install",
            ScomoOperation::InstallInactive => "InstallInactive",
            ScomoOperation::RemoveDelivered | ScomoOperation::RemoveDeployed => "Remove",
            ScomoOperation::Activate => "Activate",
            ScomoOperation::Deactivate => "Deactivate",
        }
    }

    /// Where the component is when the operation is executed (the entry
    /// holding its node); for [`ScomoOperation::Activate`] and
    /// [`ScomoOperation::Deactivate`] `Deployed` with whichever `State`.
    pub fn place(self) -> ComponentPlace {
        match self {
            ScomoOperation::Download
            | ScomoOperation::DownloadInstall
            | ScomoOperation::DownloadInstallInactive => ComponentPlace::Download,
            ScomoOperation::Install
            | ScomoOperation::InstallInactive
            | ScomoOperation::RemoveDelivered => ComponentPlace::Delivered,
            ScomoOperation::Activate
            | ScomoOperation::Deactivate
            | ScomoOperation::RemoveDeployed => ComponentPlace::Deployed { active: true },
        }
    }

    /// The operation executed at `path` (node names relative to the
    /// instance root) and the component's entry name, or `None` when the
    /// path names no operation.
    ///
    /// ```
    /// use dm_client::update::ScomoOperation;
    ///
    /// let path = ["Inventory", "Deployed", "app", "Operations", "Remove"];
    /// assert_eq!(ScomoOperation::at(&path), Some((ScomoOperation::RemoveDeployed, "app")));
    /// assert_eq!(ScomoOperation::at(&["Download", "app", "Operations", "Install"]), None);
    /// ```
    pub fn at<'a>(path: &[&'a str]) -> Option<(ScomoOperation, &'a str)> {
        let (place, name, operation) = match path {
            ["Download", name, "Operations", operation] => {
                (ComponentPlace::Download, *name, *operation)
            }
            ["Inventory", "Delivered", name, "Operations", operation] => {
                (ComponentPlace::Delivered, *name, *operation)
            }
            ["Inventory", "Deployed", name, "Operations", operation] => {
                (ComponentPlace::Deployed { active: true }, *name, *operation)
            }
            _ => return None,
        };
        Self::of(place)
            .iter()
            .find(|o| o.node_name() == operation)
            .map(|&o| (o, name))
    }

    /// The operation's node for component `name`, relative to the
    /// instance root.
    pub fn path(self, name: &str) -> String {
        // Every operation's place has an entry.
        let entry = self.place().entry(name).unwrap_or_default();
        format!("{entry}/Operations/{}", self.node_name())
    }

    /// Whether the operation starts with a download (from
    /// `Download/<x>/PkgURL`).
    pub fn downloads(self) -> bool {
        self.place() == ComponentPlace::Download
    }

    /// Whether the operation installs, and then whether the component is
    /// to be active.
    pub fn installs(self) -> Option<bool> {
        match self {
            ScomoOperation::DownloadInstall | ScomoOperation::Install => Some(true),
            ScomoOperation::DownloadInstallInactive | ScomoOperation::InstallInactive => {
                Some(false)
            }
            _ => None,
        }
    }

    /// Where the component stands after the operation ended so; `None`
    /// when it stays where it was. A download-and-install whose install
    /// fails leaves the package delivered (the server may `Install` it
    /// again or `Remove` it).
    ///
    /// ```
    /// use dm_client::update::{ComponentPlace, OperationEnd, ScomoOperation};
    ///
    /// let op = ScomoOperation::DownloadInstallInactive;
    /// assert_eq!(op.after(OperationEnd::Succeeded), Some(ComponentPlace::Deployed { active: false }));
    /// assert_eq!(op.after(OperationEnd::Failed), Some(ComponentPlace::Delivered));
    /// assert_eq!(op.after(OperationEnd::DownloadFailed), None);
    /// ```
    pub fn after(self, end: OperationEnd) -> Option<ComponentPlace> {
        match end {
            OperationEnd::Succeeded => Some(match self {
                ScomoOperation::Download => ComponentPlace::Delivered,
                ScomoOperation::DownloadInstall
                | ScomoOperation::Install
                | ScomoOperation::Activate => ComponentPlace::Deployed { active: true },
                ScomoOperation::DownloadInstallInactive
                | ScomoOperation::InstallInactive
                | ScomoOperation::Deactivate => ComponentPlace::Deployed { active: false },
                ScomoOperation::RemoveDelivered | ScomoOperation::RemoveDeployed => {
                    ComponentPlace::Removed
                }
            }),
            OperationEnd::DownloadFailed | OperationEnd::Refused => None,
            OperationEnd::Failed => {
                (self.downloads() && self.installs().is_some()).then_some(ComponentPlace::Delivered)
            }
        }
    }

    /// The component a result alert names (its `TargetURI`, relative to
    /// the instance root): the entry where the component stands after the
    /// operation, or — removed, or nothing moved — the entry the operation
    /// was executed on.
    ///
    /// ```
    /// use dm_client::update::{OperationEnd, ScomoOperation};
    ///
    /// assert_eq!(ScomoOperation::DownloadInstall.target("app", OperationEnd::Succeeded), "Inventory/Deployed/app");
    /// assert_eq!(ScomoOperation::DownloadInstall.target("app", OperationEnd::DownloadFailed), "Download/app");
    /// assert_eq!(ScomoOperation::RemoveDelivered.target("app", OperationEnd::Succeeded), "Inventory/Delivered/app");
    /// ```
    pub fn target(self, name: &str, end: OperationEnd) -> String {
        self.after(end)
            .and_then(|place| place.entry(name))
            .or_else(|| self.place().entry(name))
            .unwrap_or_default()
    }
}

impl std::fmt::Display for ScomoOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.node_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_found_at_its_own_path_only() {
        for op in ScomoOperation::ALL {
            let path = op.path("c1");
            let names: Vec<&str> = path.split('/').collect();
            assert_eq!(ScomoOperation::at(&names), Some((op, "c1")), "{path}");
        }
        for wrong in [
            &["Download", "c", "Operations", "Activate"][..],
            &["Inventory", "Deployed", "c", "Operations", "Install"],
            &["Inventory", "Delivered", "c", "Operations", "Activate"],
            &["Inventory", "Deployed", "c", "Remove"],
            &["Download", "c", "Operations"],
            &["Other", "c", "Operations", "Download"],
        ] {
            assert_eq!(ScomoOperation::at(wrong), None, "{wrong:?}");
        }
    }

    #[test]
    fn components_move_as_section_13_2_says() {
        use ComponentPlace::*;
        use ScomoOperation as Op;
        let succeeded = |op: Op| op.after(OperationEnd::Succeeded);
        assert_eq!(succeeded(Op::Download), Some(Delivered));
        assert_eq!(
            succeeded(Op::DownloadInstall),
            Some(Deployed { active: true })
        );
        assert_eq!(succeeded(Op::Install), Some(Deployed { active: true }));
        assert_eq!(
            succeeded(Op::InstallInactive),
            Some(Deployed { active: false })
        );
        assert_eq!(succeeded(Op::Activate), Some(Deployed { active: true }));
        assert_eq!(succeeded(Op::Deactivate), Some(Deployed { active: false }));
        assert_eq!(succeeded(Op::RemoveDelivered), Some(Removed));
        assert_eq!(succeeded(Op::RemoveDeployed), Some(Removed));
        // Failures leave the component where it was, except a failed
        // install after a download, which leaves the package delivered.
        for op in Op::ALL {
            assert_eq!(op.after(OperationEnd::DownloadFailed), None, "{op}");
            assert_eq!(op.after(OperationEnd::Refused), None, "{op}");
            assert_eq!(
                op.target("a", OperationEnd::Refused),
                op.place().entry("a").unwrap_or_default(),
                "{op}"
            );
            let expected = matches!(op, Op::DownloadInstall | Op::DownloadInstallInactive)
                .then_some(Delivered);
            assert_eq!(op.after(OperationEnd::Failed), expected, "{op}");
        }
    }

    #[test]
    fn targets_name_the_component_where_it_ends() {
        use ScomoOperation as Op;
        assert_eq!(
            Op::Download.target("a", OperationEnd::Succeeded),
            "Inventory/Delivered/a"
        );
        assert_eq!(
            Op::Download.target("a", OperationEnd::DownloadFailed),
            "Download/a"
        );
        assert_eq!(
            Op::DownloadInstallInactive.target("a", OperationEnd::Failed),
            "Inventory/Delivered/a"
        );
        assert_eq!(
            Op::Install.target("a", OperationEnd::Failed),
            "Inventory/Delivered/a"
        );
        assert_eq!(
            Op::RemoveDeployed.target("a", OperationEnd::Succeeded),
            "Inventory/Deployed/a"
        );
        assert_eq!(
            Op::Deactivate.target("a", OperationEnd::Failed),
            "Inventory/Deployed/a"
        );
    }
}
