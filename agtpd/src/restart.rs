//! Keys that only a restart applies. On SIGHUP each configuration section pins its own
//! restart-only keys to their running values ([`Pinned::keep`]), so a reload applies
//! everything else and reports each pinned key that changed, from one list per section.

/// The restart-only keys a reload found changed.
#[derive(Debug, Default)]
pub(crate) struct Pinned {
    changed: Vec<&'static str>,
}

impl Pinned {
    /// Keeps `running` in `new` for the restart-only `key`, noting a change.
    pub(crate) fn keep<T: PartialEq + Clone>(
        &mut self,
        key: &'static str,
        new: &mut T,
        running: &T,
    ) {
        if new != running {
            self.changed.push(key);
            new.clone_from(running);
        }
    }

    /// Notes that `key` changed in a way a reload cannot apply; the caller keeps the
    /// running value itself.
    pub(crate) fn note(&mut self, key: &'static str) {
        self.changed.push(key);
    }

    /// The keys that changed, in the order they were pinned.
    pub(crate) fn changed(&self) -> &[&'static str] {
        &self.changed
    }
}
