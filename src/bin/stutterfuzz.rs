//! The `stutterfuzz` command (its full interface is being built; see the README).

fn main() {
    std::process::exit(2);
}
