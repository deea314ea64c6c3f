//! Shell completions and the manual page cover every command.

use std::process::Command;

fn waybill(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_waybill")).args(args).output().expect("run waybill");
    assert!(out.status.success(), "waybill {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8")
}

const COMMANDS: [&str; 8] = ["run", "status", "validate", "plan", "crds", "controller", "completions", "man"];

#[test]
fn completions_for_each_shell_name_every_command() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = waybill(&["completions", shell]);
        for command in COMMANDS {
            assert!(script.contains(command), "{shell} completions name {command}");
        }
        assert!(script.contains("leader-elect-namespace"), "{shell} completions carry the subcommands' flags");
    }
}

#[test]
fn the_manual_page_is_roff_naming_every_command() {
    let page = waybill(&["man"]);
    assert!(page.contains(".TH waybill 1"), "{page}");
    for command in COMMANDS {
        assert!(page.contains(command), "the manual names {command}");
    }
}
