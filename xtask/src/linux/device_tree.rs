//! The Linux guests' device trees, written with `vm-fdt`, and where the guests' files go.
//!
//! The first guest is VM 1, with VM 1's memory: 16 MiB of RAM at IPA 0x4000_0000, backed by
//! DRAM at 0x4100_0000 (board `GUESTS[0]`), so the hypervisor's and the SPMC's view of VM 1's
//! memory (buffer translation, memory sharing) apply unchanged; the second is VM 2, the same
//! at 0x4200_0000 (board `GUESTS[1]`), on CPU 1. Each has one CPU (the one it runs on: its
//! `reg` is that CPU's MPIDR affinity), PSCI through HVC (so FF-A goes through HVC too: Linux's
//! FF-A driver uses PSCI's conduit), a GICv3 distributor with one redistributor (its CPU's),
//! the architected timer and a PL011; the hypervisor emulates the PL011, the distributor and
//! the redistributor's RD_base frame per guest. Nothing in it mentions FF-A: Linux 6.12 finds
//! FF-A by calling FFA_VERSION, not through the device tree. VM 2's boot arguments carry the
//! placeholders the hypervisor fills in for the cross-guest check (`linux_pair.rs`).

/// The guest's RAM as the guest sees it, and where it really is.
pub const RAM_IPA: u64 = 0x4000_0000;
pub const RAM_SIZE: u64 = 16 << 20;
pub const RAM_PHYSICAL: u64 = 0x4100_0000;
/// What the memory node gives Linux: all but the last page, which the SPMC's and the
/// forwarder's memory maps hold read-only for the conformance suite's MM13 checks
/// (`platform_common::grantable::GUEST_READ_ONLY_PAGE`); Linux must not share it read-write.
pub const LINUX_RAM_SIZE: u64 = RAM_SIZE - 4096;

/// One Linux guest: its FF-A ID (= VM number), the CPU it runs on, its RAM's physical address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestLayout {
    pub vm: u16,
    pub cpu: u32,
    pub ram_physical: u64,
}

/// The two guests of `cargo xtask linux` (board `GUESTS`).
pub const GUESTS: [GuestLayout; 2] = [
    GuestLayout { vm: 1, cpu: 0, ram_physical: RAM_PHYSICAL },
    GuestLayout { vm: 2, cpu: 1, ram_physical: 0x4200_0000 },
];

/// What VM 2's boot arguments add: fixed-width fields, all zero, that the hypervisor fills
/// with VM 1's victim handle and ID before VM 2 starts.
pub const CROSS_PLACEHOLDERS: &str = "ffa_cross.victim=0x0000000000000000 ffa_cross.owner=0x0000";
/// Offsets in the guest's RAM: the device tree at 1 MiB (the hypervisor looks for it there;
/// the first MiB holds the test VM image the monitor copies into VM 1's RAM), the kernel at
/// 2 MiB (arm64 wants a 2 MiB aligned Image), the initramfs at 10 MiB.
pub const DEVICE_TREE_OFFSET: u64 = 1 << 20;
pub const KERNEL_OFFSET: u64 = 2 << 20;
pub const INITRAMFS_OFFSET: u64 = 10 << 20;
// The files go in this order, inside the RAM; arm64 wants the Image 2 MiB aligned.
const _: () = assert!(DEVICE_TREE_OFFSET < KERNEL_OFFSET && KERNEL_OFFSET < INITRAMFS_OFFSET);
const _: () = assert!(INITRAMFS_OFFSET < RAM_SIZE && KERNEL_OFFSET.is_multiple_of(2 << 20));

const GIC_DISTRIBUTOR: u64 = 0x0800_0000;
const GIC_REDISTRIBUTOR: u64 = 0x080A_0000;
/// One redistributor (RD_base + SGI_base, 128 KiB): the guest's own CPU's, whose GICR_TYPER
/// the hypervisor reads with Last set.
const GIC_REDISTRIBUTOR_SIZE: u64 = 0x2_0000;
const UART: u64 = 0x0900_0000;
const GIC_PHANDLE: u32 = 1;
const CLOCK_PHANDLE: u32 = 2;
/// Interrupt specifier flags: level-triggered, active high.
const LEVEL_HIGH: u32 = 4;
const PPI: u32 = 1;
const SPI: u32 = 0;

/// What the kernel is told on its command line.
pub const BOOT_ARGUMENTS: &str =
    "console=ttyAMA0 earlycon=pl011,0x9000000 rdinit=/init panic=-1 loglevel=7";

/// The device tree for `guest`, whose initramfs is `initramfs_size` bytes long.
pub fn build(guest: GuestLayout, initramfs_size: u64) -> Result<Vec<u8>, String> {
    let fail = |error: vm_fdt::Error| format!("writing the guest device tree: {error}");
    let mut writer = vm_fdt::FdtWriter::new().map_err(fail)?;
    let root = writer.begin_node("").map_err(fail)?;
    writer.property_string("compatible", "linux,dummy-virt").map_err(fail)?;
    writer.property_string("model", "ffa-rs Linux guest on QEMU virt").map_err(fail)?;
    writer.property_u32("#address-cells", 2).map_err(fail)?;
    writer.property_u32("#size-cells", 2).map_err(fail)?;
    writer.property_u32("interrupt-parent", GIC_PHANDLE).map_err(fail)?;

    let chosen = writer.begin_node("chosen").map_err(fail)?;
    let boot_arguments = if guest.vm == 1 {
        BOOT_ARGUMENTS.to_owned()
    } else {
        format!("{BOOT_ARGUMENTS} {CROSS_PLACEHOLDERS}")
    };
    writer.property_string("bootargs", &boot_arguments).map_err(fail)?;
    writer.property_string("stdout-path", "/pl011@9000000").map_err(fail)?;
    let initramfs_start = RAM_IPA + INITRAMFS_OFFSET;
    writer.property_u64("linux,initrd-start", initramfs_start).map_err(fail)?;
    writer.property_u64("linux,initrd-end", initramfs_start + initramfs_size).map_err(fail)?;
    writer.end_node(chosen).map_err(fail)?;

    let memory = writer.begin_node(&format!("memory@{RAM_IPA:x}")).map_err(fail)?;
    writer.property_string("device_type", "memory").map_err(fail)?;
    writer.property_array_u64("reg", &[RAM_IPA, LINUX_RAM_SIZE]).map_err(fail)?;
    writer.end_node(memory).map_err(fail)?;

    let cpus = writer.begin_node("cpus").map_err(fail)?;
    writer.property_u32("#address-cells", 1).map_err(fail)?;
    writer.property_u32("#size-cells", 0).map_err(fail)?;
    let cpu = writer.begin_node(&format!("cpu@{:x}", guest.cpu)).map_err(fail)?;
    writer.property_string("device_type", "cpu").map_err(fail)?;
    writer.property_string("compatible", "arm,armv8").map_err(fail)?;
    writer.property_u32("reg", guest.cpu).map_err(fail)?;
    writer.property_string("enable-method", "psci").map_err(fail)?;
    writer.end_node(cpu).map_err(fail)?;
    writer.end_node(cpus).map_err(fail)?;

    let psci = writer.begin_node("psci").map_err(fail)?;
    writer
        .property_string_list("compatible", vec!["arm,psci-1.0".into(), "arm,psci-0.2".into()])
        .map_err(fail)?;
    writer.property_string("method", "hvc").map_err(fail)?;
    writer.end_node(psci).map_err(fail)?;

    let timer = writer.begin_node("timer").map_err(fail)?;
    writer.property_string("compatible", "arm,armv8-timer").map_err(fail)?;
    // Secure physical, non-secure physical, virtual, hypervisor: PPIs 13, 14, 11, 10.
    let mut interrupts = Vec::new();
    for number in [13, 14, 11, 10] {
        interrupts.extend_from_slice(&[PPI, number, LEVEL_HIGH]);
    }
    writer.property_array_u32("interrupts", &interrupts).map_err(fail)?;
    writer.property_null("always-on").map_err(fail)?;
    writer.end_node(timer).map_err(fail)?;

    let gic = writer.begin_node(&format!("intc@{GIC_DISTRIBUTOR:x}")).map_err(fail)?;
    writer.property_string("compatible", "arm,gic-v3").map_err(fail)?;
    writer.property_u32("#interrupt-cells", 3).map_err(fail)?;
    writer.property_null("interrupt-controller").map_err(fail)?;
    writer.property_u32("#redistributor-regions", 1).map_err(fail)?;
    writer
        .property_array_u64(
            "reg",
            &[GIC_DISTRIBUTOR, 0x1_0000, GIC_REDISTRIBUTOR, GIC_REDISTRIBUTOR_SIZE],
        )
        .map_err(fail)?;
    writer.property_phandle(GIC_PHANDLE).map_err(fail)?;
    writer.end_node(gic).map_err(fail)?;

    let clock = writer.begin_node("apb-pclk").map_err(fail)?;
    writer.property_string("compatible", "fixed-clock").map_err(fail)?;
    writer.property_u32("#clock-cells", 0).map_err(fail)?;
    writer.property_u32("clock-frequency", 24_000_000).map_err(fail)?;
    writer.property_string("clock-output-names", "clk24mhz").map_err(fail)?;
    writer.property_phandle(CLOCK_PHANDLE).map_err(fail)?;
    writer.end_node(clock).map_err(fail)?;

    let uart = writer.begin_node(&format!("pl011@{UART:x}")).map_err(fail)?;
    writer
        .property_string_list("compatible", vec!["arm,pl011".into(), "arm,primecell".into()])
        .map_err(fail)?;
    writer.property_array_u64("reg", &[UART, 0x1000]).map_err(fail)?;
    writer.property_array_u32("interrupts", &[SPI, 1, LEVEL_HIGH]).map_err(fail)?;
    writer.property_array_u32("clocks", &[CLOCK_PHANDLE, CLOCK_PHANDLE]).map_err(fail)?;
    writer
        .property_string_list("clock-names", vec!["uartclk".into(), "apb_pclk".into()])
        .map_err(fail)?;
    writer.end_node(uart).map_err(fail)?;

    writer.end_node(root).map_err(fail)?;
    writer.finish().map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_is_a_flattened_device_tree_naming_the_hvc_conduit_and_the_initramfs() {
        let blob = build(GUESTS[0], 0x1234).unwrap();
        assert_eq!(&blob[..4], &[0xd0, 0x0d, 0xfe, 0xed], "FDT magic");
        let contains = |needle: &[u8]| blob.windows(needle.len()).any(|window| window == needle);
        assert!(contains(b"hvc\0"));
        assert!(contains(b"arm,psci-1.0\0"));
        assert!(contains(b"arm,gic-v3\0"));
        let end = (RAM_IPA + INITRAMFS_OFFSET + 0x1234).to_be_bytes();
        assert!(contains(&end), "linux,initrd-end holds the initramfs end");
        assert!(!contains(b"ffa_cross"), "VM 1 gets no placeholders");
    }

    #[test]
    fn the_second_guest_has_cpu_1_and_the_placeholders() {
        let blob = build(GUESTS[1], 0x1234).unwrap();
        let contains = |needle: &[u8]| blob.windows(needle.len()).any(|window| window == needle);
        assert!(contains(b"cpu@1\0"));
        assert!(contains(CROSS_PLACEHOLDERS.as_bytes()));
        // The hypervisor's patch finds the placeholders with zero digits.
        assert!(contains(b"ffa_cross.victim=0x0000000000000000 "));
    }
}
