//! The Linux guest's device tree, written with `vm-fdt`, and where the guest's files go.
//!
//! The guest is VM 1, with VM 1's memory: 16 MiB of RAM at IPA 0x4000_0000, backed by DRAM at
//! 0x4100_0000 (board `GUESTS[0]`), so the hypervisor's and the SPMC's view of VM 1's memory
//! (buffer translation, memory sharing) apply unchanged. It has one CPU, PSCI through HVC (so
//! FF-A goes through HVC too: Linux's FF-A driver uses PSCI's conduit), and the GICv3
//! distributor and redistributors, the architected timer and the PL011, all passed through.
//! Nothing in it mentions FF-A: Linux 6.12 finds FF-A by calling FFA_VERSION, not through the
//! device tree.

/// The guest's RAM as the guest sees it, and where it really is.
pub const RAM_IPA: u64 = 0x4000_0000;
pub const RAM_SIZE: u64 = 16 << 20;
pub const RAM_PHYSICAL: u64 = 0x4100_0000;
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
/// Every CPU's redistributor (RD_base + SGI_base, 128 KiB each; QEMU runs with `-smp 4`):
/// the guest uses the boot CPU's only, but Linux reads each frame until the one marked Last.
const GIC_REDISTRIBUTOR_SIZE: u64 = 4 * 0x2_0000;
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

/// The device tree for a guest whose initramfs is `initramfs_size` bytes long.
pub fn build(initramfs_size: u64) -> Result<Vec<u8>, String> {
    let fail = |error: vm_fdt::Error| format!("writing the guest device tree: {error}");
    let mut writer = vm_fdt::FdtWriter::new().map_err(fail)?;
    let root = writer.begin_node("").map_err(fail)?;
    writer.property_string("compatible", "linux,dummy-virt").map_err(fail)?;
    writer.property_string("model", "ffa-rs Linux guest on QEMU virt").map_err(fail)?;
    writer.property_u32("#address-cells", 2).map_err(fail)?;
    writer.property_u32("#size-cells", 2).map_err(fail)?;
    writer.property_u32("interrupt-parent", GIC_PHANDLE).map_err(fail)?;

    let chosen = writer.begin_node("chosen").map_err(fail)?;
    writer.property_string("bootargs", BOOT_ARGUMENTS).map_err(fail)?;
    writer.property_string("stdout-path", "/pl011@9000000").map_err(fail)?;
    let initramfs_start = RAM_IPA + INITRAMFS_OFFSET;
    writer.property_u64("linux,initrd-start", initramfs_start).map_err(fail)?;
    writer.property_u64("linux,initrd-end", initramfs_start + initramfs_size).map_err(fail)?;
    writer.end_node(chosen).map_err(fail)?;

    let memory = writer.begin_node(&format!("memory@{RAM_IPA:x}")).map_err(fail)?;
    writer.property_string("device_type", "memory").map_err(fail)?;
    writer.property_array_u64("reg", &[RAM_IPA, RAM_SIZE]).map_err(fail)?;
    writer.end_node(memory).map_err(fail)?;

    let cpus = writer.begin_node("cpus").map_err(fail)?;
    writer.property_u32("#address-cells", 1).map_err(fail)?;
    writer.property_u32("#size-cells", 0).map_err(fail)?;
    let cpu = writer.begin_node("cpu@0").map_err(fail)?;
    writer.property_string("device_type", "cpu").map_err(fail)?;
    writer.property_string("compatible", "arm,armv8").map_err(fail)?;
    writer.property_u32("reg", 0).map_err(fail)?;
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
        let blob = build(0x1234).unwrap();
        assert_eq!(&blob[..4], &[0xd0, 0x0d, 0xfe, 0xed], "FDT magic");
        let contains = |needle: &[u8]| blob.windows(needle.len()).any(|window| window == needle);
        assert!(contains(b"hvc\0"));
        assert!(contains(b"arm,psci-1.0\0"));
        assert!(contains(b"arm,gic-v3\0"));
        let end = (RAM_IPA + INITRAMFS_OFFSET + 0x1234).to_be_bytes();
        assert!(contains(&end), "linux,initrd-end holds the initramfs end");
    }
}
