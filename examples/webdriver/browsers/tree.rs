//! One session's processes and their process groups, as `/proc` shows them.

use std::collections::BTreeSet;
use std::fmt;

use super::census::{self, Census, Process, Scope};
use super::{Browser, MARKER};

/// A session's processes as `/proc` shows them: those in its group, and those of the session
/// (naming its profile or carrying its marker) outside the group.
#[derive(Debug)]
pub(crate) struct SessionTree {
    pub(crate) group: u32,
    pub(crate) in_group: Vec<Process>,
    pub(crate) outside: Vec<Process>,
}

impl SessionTree {
    pub(crate) fn of(browser: &Browser) -> Self {
        let profile = browser.profile().display().to_string();
        let scope = Scope {
            marker: format!("{MARKER}={profile}"),
            dir: profile,
            groups: BTreeSet::from([browser.group()]),
            descendants: false,
        };
        let Census { running, zombies } = census::take(&scope);
        let (in_group, outside) =
            running.into_iter().chain(zombies).partition(|process| process.group == browser.group());
        SessionTree { group: browser.group(), in_group, outside }
    }
}

impl fmt::Display for SessionTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chromium = self.in_group.iter().filter(|process| process.command == "chromium").count();
        writeln!(
            f,
            "a session's processes (/proc/<pid>/stat): process group {} holds {} processes, {chromium} of them Chromium's",
            self.group,
            self.in_group.len()
        )?;
        for process in
            self.in_group.iter().filter(|process| process.pid == self.group || process.parent == self.group)
        {
            writeln!(f, "  {process}")?;
        }
        match self.outside.as_slice() {
            [] => writeln!(f, "  none of the session's processes is outside the group"),
            outside => {
                let leader = self.in_group.iter().find(|process| process.pid == self.group);
                for process in outside {
                    let setsid = leader.is_some_and(|leader| process.session != leader.session);
                    let how = if setsid { "left it by setsid, " } else { "" };
                    writeln!(f, "  OUTSIDE the group ({how}reaped by pid): {process}")?;
                }
                Ok(())
            }
        }
    }
}
