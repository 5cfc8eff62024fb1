//! Notification flags, bitmaps and the FFA_NOTIFICATION_INFO_GET list encoding (reference §8).

use crate::{EndpointId, FfaError, VcpuId};

/// A 64-bit notification bitmap, split into `w3` (bits 0-31) and `w4` (bits 32-63) in
/// BIND/UNBIND/SET.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NotificationBitmap(pub u64);

impl NotificationBitmap {
    /// Joins the low and high halves.
    pub const fn from_halves(low: u32, high: u32) -> Self {
        Self((high as u64) << 32 | low as u64)
    }

    /// The (low, high) halves.
    pub const fn halves(self) -> (u32, u32) {
        (self.0 as u32, (self.0 >> 32) as u32)
    }
}

bitflags::bitflags! {
    /// FFA_NOTIFICATION_BIND `w2` flags; every other bit is MBZ.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct BindFlags: u32 {
        /// The notifications are per-vCPU rather than global.
        const PER_VCPU = 1 << 0;
    }
}

bitflags::bitflags! {
    /// FFA_NOTIFICATION_GET `w2`: which bitmaps to return and clear; other bits rejected.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct GetFlags: u32 {
        /// Notifications from secure partitions (w2/w3 of the result).
        const SP = 1 << 0;
        /// Notifications from VMs (w4/w5).
        const VM = 1 << 1;
        /// SPM framework notifications (w6).
        const SPM_FRAMEWORK = 1 << 2;
        /// Hypervisor framework notifications (w7).
        const HYPERVISOR_FRAMEWORK = 1 << 3;
    }
}

/// FFA_NOTIFICATION_SET `w2`: bit 0 per-vCPU, bit 1 delay SRI, `[15:2]` MBZ, `[31:16]` vCPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SetFlags {
    /// Bit 0: set a per-vCPU notification on `vcpu`.
    pub per_vcpu: bool,
    /// Bit 1: raise the SRI only when returning to the normal world.
    pub delay_schedule_receiver: bool,
    /// `[31:16]`: target vCPU, zero unless `per_vcpu`.
    pub vcpu: VcpuId,
}

impl SetFlags {
    /// The `w2` word.
    pub const fn to_word(self) -> u32 {
        (self.vcpu.0 as u32) << 16
            | (self.delay_schedule_receiver as u32) << 1
            | self.per_vcpu as u32
    }

    /// Parses `w2`; MBZ bits or a vCPU without the per-vCPU bit are INVALID_PARAMETERS.
    pub const fn from_word(word: u32) -> Result<Self, FfaError> {
        let per_vcpu = word & 1 != 0;
        let vcpu = (word >> 16) as u16;
        if word & 0xFFFC != 0 || (!per_vcpu && vcpu != 0) {
            return Err(FfaError::InvalidParameters);
        }
        Ok(Self { per_vcpu, delay_schedule_receiver: word & 2 != 0, vcpu: VcpuId(vcpu) })
    }
}

/// The FFA_NOTIFICATION_GET results in `w2`-`w7` (reference §8.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NotificationGetResult {
    /// SP-sourced bitmap (w2 low, w3 high).
    pub from_sp: NotificationBitmap,
    /// VM-sourced bitmap (w4 low, w5 high).
    pub from_vm: NotificationBitmap,
    /// SPM framework bitmap (w6); bit 0 is "RX buffer full".
    pub spm_framework: u32,
    /// Hypervisor framework bitmap (w7); bit 0 is "RX buffer full".
    pub hypervisor_framework: u32,
}

impl NotificationGetResult {
    /// `w2`-`w7` of the FFA_SUCCESS_32.
    pub const fn to_words(self) -> [u32; 6] {
        let (sp_low, sp_high) = self.from_sp.halves();
        let (vm_low, vm_high) = self.from_vm.halves();
        [sp_low, sp_high, vm_low, vm_high, self.spm_framework, self.hypervisor_framework]
    }

    /// Reads `w2`-`w7`.
    pub const fn from_words(words: [u32; 6]) -> Self {
        let [sp_low, sp_high, vm_low, vm_high, spm_framework, hypervisor_framework] = words;
        Self {
            from_sp: NotificationBitmap::from_halves(sp_low, sp_high),
            from_vm: NotificationBitmap::from_halves(vm_low, vm_high),
            spm_framework,
            hypervisor_framework,
        }
    }
}

/// One FFA_NOTIFICATION_INFO_GET list: a partition ID followed by up to three vCPU IDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InfoList {
    /// The partition with pending notifications.
    pub partition: EndpointId,
    vcpus: [VcpuId; 3],
    vcpu_count: u8,
}

impl InfoList {
    /// A list; more than three vCPUs is INVALID_PARAMETERS (the count field has two bits).
    pub fn new(partition: EndpointId, vcpus: &[VcpuId]) -> Result<Self, FfaError> {
        let mut list = Self { partition, vcpus: [VcpuId(0); 3], vcpu_count: 0 };
        let slots = list.vcpus.get_mut(..vcpus.len()).ok_or(FfaError::InvalidParameters)?;
        slots.copy_from_slice(vcpus);
        list.vcpu_count = vcpus.len() as u8;
        Ok(list)
    }

    /// The vCPUs with pending per-vCPU notifications (empty: global notifications).
    pub fn vcpus(&self) -> &[VcpuId] {
        self.vcpus.get(..usize::from(self.vcpu_count)).unwrap_or(&[])
    }
}

/// The most IDs an SMC64 answer carries (x3-x7, four per register).
pub const INFO_GET_MAX_IDS_64: usize = 20;
/// The most IDs an SMC32 answer carries (w3-w7, two per register).
pub const INFO_GET_MAX_IDS_32: usize = 10;

/// The FFA_NOTIFICATION_INFO_GET answer: flags, counts and ID lists (reference §8.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NotificationInfo {
    /// `w2` bit 0: more notifications are pending, call again.
    pub more_pending: bool,
    lists: [Option<InfoList>; INFO_GET_MAX_IDS_64],
}

impl NotificationInfo {
    /// An empty answer.
    pub const fn new(more_pending: bool) -> Self {
        Self { more_pending, lists: [None; INFO_GET_MAX_IDS_64] }
    }

    /// The lists in order.
    pub fn lists(&self) -> impl Iterator<Item = &InfoList> {
        self.lists.iter().map_while(Option::as_ref)
    }

    /// Number of 16-bit IDs the lists use.
    pub fn id_count(&self) -> usize {
        self.lists().map(|list| 1 + list.vcpus().len()).sum()
    }

    /// Appends a list if the IDs still fit the SMC32 or SMC64 form; NO_MEMORY otherwise (the
    /// caller then sets `more_pending` and reports the rest on the next call).
    pub fn push(&mut self, list: InfoList, is_64: bool) -> Result<(), FfaError> {
        let capacity = if is_64 { INFO_GET_MAX_IDS_64 } else { INFO_GET_MAX_IDS_32 };
        if self.id_count() + 1 + list.vcpus().len() > capacity {
            return Err(FfaError::NoMemory);
        }
        let slot = self.lists.iter_mut().find(|slot| slot.is_none()).ok_or(FfaError::NoMemory)?;
        *slot = Some(list);
        Ok(())
    }

    /// Encodes `x2`-`x7` (SMC32: values fit in 32 bits).
    pub fn encode(&self, is_64: bool) -> [u64; 6] {
        let ids_per_register = if is_64 { 4 } else { 2 };
        let mut registers = [0u64; 6];
        let mut flags = u64::from(self.more_pending);
        let mut position = 0usize;
        for (index, list) in self.lists().enumerate() {
            flags |= (list.vcpus().len() as u64) << (12 + 2 * index);
            let ids = core::iter::once(list.partition.0).chain(list.vcpus().iter().map(|v| v.0));
            for id in ids {
                let register = 1 + position / ids_per_register;
                let shift = 16 * (position % ids_per_register);
                if let Some(slot) = registers.get_mut(register) {
                    *slot |= u64::from(id) << shift;
                }
                position += 1;
            }
        }
        flags |= (self.lists().count() as u64) << 7;
        if let Some(slot) = registers.first_mut() {
            *slot = flags;
        }
        registers
    }

    /// Decodes `x2`-`x7`; counts that exceed the form's capacity or reserved bits set are
    /// INVALID_PARAMETERS.
    pub fn decode(registers: [u64; 6], is_64: bool) -> Result<Self, FfaError> {
        let [flags, ids @ ..] = registers;
        let ids_per_register = if is_64 { 4 } else { 2 };
        let capacity = if is_64 { INFO_GET_MAX_IDS_64 } else { INFO_GET_MAX_IDS_32 };
        let list_count = ((flags >> 7) & 0x1F) as usize;
        let used_flag_bits = 12 + 2 * list_count as u32;
        let width = if is_64 { 64 } else { 32 };
        if flags & 0x7E != 0 || used_flag_bits > width {
            return Err(FfaError::InvalidParameters);
        }
        if used_flag_bits < width && flags >> used_flag_bits != 0 {
            return Err(FfaError::InvalidParameters);
        }
        let id_at = |position: usize| -> u16 {
            let register = ids.get(position / ids_per_register).copied().unwrap_or(0);
            (register >> (16 * (position % ids_per_register))) as u16
        };
        let mut info = Self::new(flags & 1 != 0);
        let mut position = 0usize;
        for index in 0..list_count {
            let vcpu_count = ((flags >> (12 + 2 * index)) & 3) as usize;
            if position + 1 + vcpu_count > capacity {
                return Err(FfaError::InvalidParameters);
            }
            let mut vcpus = [VcpuId(0); 3];
            for (offset, vcpu) in vcpus.iter_mut().take(vcpu_count).enumerate() {
                *vcpu = VcpuId(id_at(position + 1 + offset));
            }
            let list = InfoList::new(
                EndpointId(id_at(position)),
                vcpus.get(..vcpu_count).unwrap_or(&[]),
            )?;
            position += 1 + vcpu_count;
            info.push(list, is_64)?;
        }
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_get_lists_pack_two_or_four_ids_per_register() {
        let mut info = NotificationInfo::new(true);
        info.push(InfoList::new(EndpointId(0x8001), &[]).unwrap(), false).unwrap();
        info.push(InfoList::new(EndpointId(0x8002), &[VcpuId(1), VcpuId(3)]).unwrap(), false)
            .unwrap();
        let registers = info.encode(false);
        // more pending, 2 lists, list 1 has 2 vCPUs.
        assert_eq!(registers[0], 1 | 2 << 7 | 2 << 14);
        assert_eq!(registers[1], 0x8002_8001);
        assert_eq!(registers[2], 0x0003_0001);
        assert_eq!(NotificationInfo::decode(registers, false), Ok(info));
        let wide = info.encode(true);
        assert_eq!(wide[1], 0x0003_0001_8002_8001);
        assert_eq!(NotificationInfo::decode(wide, true), Ok(info));
        assert_eq!(NotificationInfo::decode([2, 0, 0, 0, 0, 0], true), Err(FfaError::InvalidParameters));
    }

    #[test]
    fn set_flags_reject_mbz_and_stray_vcpu() {
        assert_eq!(SetFlags::from_word(0x0003_0001).unwrap().vcpu, VcpuId(3));
        assert_eq!(SetFlags::from_word(0x0003_0000), Err(FfaError::InvalidParameters));
        assert_eq!(SetFlags::from_word(4), Err(FfaError::InvalidParameters));
    }
}
