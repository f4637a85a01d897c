//! A scratch directory that is removed when dropped, unless the caller asked to keep it.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result};

pub struct ScratchDir {
    path: PathBuf,
    keep: bool,
}

impl ScratchDir {
    /// Creates `parent/NAME.PID`, emptied first: a directory left by an earlier run with the same
    /// pid holds nothing we want.
    pub fn new(parent: &Path, name: &str, keep: bool) -> Result<Self> {
        let path = parent.join(format!("{name}.{}", std::process::id()));
        if path.exists() {
            fs::remove_dir_all(&path)
                .with_context(|| format!("cannot empty {}", path.display()))?;
        }
        fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self { path, keep })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("kept {}", self.path.display());
        } else if let Err(err) = fs::remove_dir_all(&self.path) {
            eprintln!("warning: cannot remove {}: {err}", self.path.display());
        }
    }
}
