//! Compiles the C glue for the two variadic entry points (`fcntl`, `ioctl`): stable Rust can call and point to
//! variadic C functions but cannot define one.

fn main() {
    println!("cargo:rerun-if-changed=csrc/variadic.c");
    cc::Build::new().file("csrc/variadic.c").warnings(true).compile("inetstack_packetdrill_variadic");
}
