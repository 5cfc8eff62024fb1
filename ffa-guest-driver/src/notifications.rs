//! Notifications: bitmap create/destroy (hypervisor), bind, unbind, set, get, info-get.

use ffa_core::notification::{
    BindFlags, GetFlags, NotificationBitmap, NotificationGetResult, NotificationInfo, SetFlags,
};
use ffa_core::{Call, Conduit, EndpointId, FfaError, FunctionId, SuccessArgs, VcpuId};

use crate::buffers::Buffers;
use crate::error::{DriverError, ErrorKind, Result};
use crate::Driver;

impl<C: Conduit, B: Buffers> Driver<C, B> {
    /// FFA_NOTIFICATION_BITMAP_CREATE (hypervisor only): a bitmap for `vm` with `vcpu_count`
    /// vCPUs, before that VM uses notifications.
    pub fn notification_bitmap_create(&mut self, vm: EndpointId, vcpu_count: u32) -> Result<()> {
        let call = Call::NotificationBitmapCreate { vm_id: vm, vcpu_count };
        self.link.call_success(call).map(drop)
    }

    /// FFA_NOTIFICATION_BITMAP_DESTROY (hypervisor only).
    pub fn notification_bitmap_destroy(&mut self, vm: EndpointId) -> Result<()> {
        self.link.call_success(Call::NotificationBitmapDestroy { vm_id: vm }).map(drop)
    }

    /// FFA_NOTIFICATION_BIND: lets `sender` signal the notifications in `bitmap` to us.
    pub fn notification_bind(
        &mut self,
        sender: EndpointId,
        bitmap: NotificationBitmap,
        per_vcpu: bool,
    ) -> Result<()> {
        self.require(FunctionId::NotificationBind)?;
        if bitmap.0 == 0 {
            return Err(DriverError::new(
                FunctionId::NotificationBind,
                ErrorKind::InvalidArgument("empty bitmap"),
            ));
        }
        let flags = if per_vcpu { BindFlags::PER_VCPU } else { BindFlags::empty() };
        let call = Call::NotificationBind { sender, receiver: self.id(), flags, bitmap };
        self.link.call_success(call).map(drop)
    }

    /// FFA_NOTIFICATION_UNBIND.
    pub fn notification_unbind(
        &mut self,
        sender: EndpointId,
        bitmap: NotificationBitmap,
    ) -> Result<()> {
        let call = Call::NotificationUnbind { sender, receiver: self.id(), bitmap };
        self.link.call_success(call).map(drop)
    }

    /// FFA_NOTIFICATION_SET: signals `bitmap` to `receiver` (which must have bound us).
    pub fn notification_set(
        &mut self,
        receiver: EndpointId,
        bitmap: NotificationBitmap,
        flags: SetFlags,
    ) -> Result<()> {
        self.require(FunctionId::NotificationSet)?;
        let call = Call::NotificationSet { sender: self.id(), receiver, flags, bitmap };
        self.link.call_success(call).map(drop)
    }

    /// FFA_NOTIFICATION_GET: returns and clears our pending notifications of the kinds in
    /// `flags` for `vcpu`.
    pub fn notification_get(
        &mut self,
        vcpu: VcpuId,
        flags: GetFlags,
    ) -> Result<NotificationGetResult> {
        let call = Call::NotificationGet { receiver: self.id(), vcpu, flags };
        let args = self.link.call_success(call)?;
        let words = core::array::from_fn(|index| args.register(index + 2) as u32);
        Ok(NotificationGetResult::from_words(words))
    }

    /// FFA_NOTIFICATION_INFO_GET (the SMC64 form when offered): which partitions and vCPUs
    /// have pending notifications; `None` when nothing is pending (NO_DATA).
    pub fn notification_info_get(&mut self) -> Result<Option<NotificationInfo>> {
        let is_64 = self.features().offers(FunctionId::NotificationInfoGet64) != Some(false);
        let call = Call::NotificationInfoGet { is_64 };
        let function = call.function_id();
        let args = match self.link.call_success(call) {
            Ok(args) => args,
            Err(error) if error.is(FfaError::NoData) => return Ok(None),
            Err(error) => return Err(error),
        };
        // Some implementations answer SUCCESS_32 to the SMC64 form: read what was sent.
        let wide = matches!(args, SuccessArgs::Args64(_));
        let registers = core::array::from_fn(|index| args.register(index + 2));
        NotificationInfo::decode(registers, wide)
            .map(Some)
            .map_err(|_| DriverError::new(function, ErrorKind::MalformedResponse("INFO_GET lists")))
    }
}
