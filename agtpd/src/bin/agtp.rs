//! The `agtp` launcher: everything is in [`agtpd::agtp`].

fn main() -> std::process::ExitCode {
    agtpd::agtp::main()
}
