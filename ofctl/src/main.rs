//! `ofctl`: the command-line client of the switch, in the style of Open vSwitch's `ovs-ofctl`.

fn main() {
    eprintln!("ofctl: no commands yet");
    std::process::exit(2);
}
