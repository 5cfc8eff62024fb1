//! The driver object: bring-up (version, ID, features), the call path, RX/TX map and unmap.

use ffa_core::call::{Return, SuccessArgs};
use ffa_core::rxtx::RxtxMapArgs;
use ffa_core::version::VersionResponse;
use ffa_core::{Call, Conduit, EndpointId, FunctionId, Version};

use crate::buffers::Buffers;
use crate::error::{DriverError, ErrorKind, Result};
use crate::features::Features;

/// The conduit together with the negotiated version: every call goes through here.
#[derive(Debug)]
pub(crate) struct Link<C> {
    pub(crate) conduit: C,
    pub(crate) version: Version,
}

/// The raw `w0` a response was carried with.
pub(crate) fn response_function(response: &Return) -> u32 {
    match response.to_call() {
        Some(call) => call.function_id().value(),
        None => FunctionId::Version.value(),
    }
}

impl<C: Conduit> Link<C> {
    pub(crate) fn error(&self, call: FunctionId, kind: ErrorKind) -> DriverError {
        DriverError::new(call, kind)
    }

    /// Sends raw registers and classifies the answer (FFA_ERROR becomes `Err`).
    pub(crate) fn exchange(
        &mut self,
        function: FunctionId,
        registers: [u64; 18],
    ) -> Result<Return> {
        let answer = self.conduit.call(registers);
        decode_response(function, &answer, self.version)
    }

    /// Makes `call` and returns its non-error answer.
    pub(crate) fn call(&mut self, call: Call) -> Result<Return> {
        let registers = call.encode(self.version);
        self.exchange(call.function_id(), registers)
    }

    /// Makes `call` and requires FFA_SUCCESS.
    pub(crate) fn call_success(&mut self, call: Call) -> Result<SuccessArgs> {
        let function = call.function_id();
        match self.call(call)? {
            Return::Success { args, .. } => Ok(args),
            other => Err(DriverError::new(
                function,
                ErrorKind::UnexpectedResponse(response_function(&other)),
            )),
        }
    }
}

/// Classifies the registers answering `function`.
pub(crate) fn decode_response(
    function: FunctionId,
    registers: &[u64; 18],
    version: Version,
) -> Result<Return> {
    let raw = registers[0] as u32;
    if FunctionId::from_register(registers[0]).is_err() {
        return Err(DriverError::new(function, ErrorKind::UnexpectedResponse(raw)));
    }
    let call = Call::decode(registers, version).map_err(|_| {
        DriverError::new(function, ErrorKind::MalformedResponse("registers do not decode"))
    })?;
    match Return::from_call(call) {
        Ok(Return::Error { error, .. }) => Err(DriverError::new(function, ErrorKind::Ffa(error))),
        Ok(response) => Ok(response),
        Err(_) => Err(DriverError::new(function, ErrorKind::UnexpectedResponse(raw))),
    }
}

/// Buffers handed back when FFA_RXTX_MAP fails, so the caller can free or retry them.
#[derive(Debug)]
pub struct MapError<B> {
    /// Why mapping failed.
    pub error: DriverError,
    /// The buffers, unmapped.
    pub buffers: B,
}

/// An FF-A endpoint driver over conduit `C`, with RX/TX buffers of type `B` once mapped.
///
/// ```
/// use ffa_core::{Conduit, Version};
/// use ffa_guest_driver::{Driver, SliceBuffers};
///
/// /// A stand-in conduit: a v1.1 partition manager that gives us ID 5 and offers nothing else.
/// struct Firmware;
/// impl Conduit for Firmware {
///     fn call(&mut self, registers: [u64; 18]) -> [u64; 18] {
///         let mut answer = [0u64; 18];
///         match registers[0] {
///             0x8400_0063 => answer[0] = 0x0001_0001,
///             0x8400_0069 => (answer[0], answer[2]) = (0x8400_0061, 5),
///             _ => (answer[0], answer[2]) = (0x8400_0060, 0xFFFF_FFFF),
///         }
///         answer
///     }
/// }
///
/// let driver = Driver::<_, SliceBuffers<'static>>::new(Firmware).unwrap();
/// assert_eq!(driver.version(), Version::V1_1);
/// assert_eq!(driver.id().0, 5);
/// assert_eq!(driver.features().buffers.minimum_size, 4096);
/// ```
pub struct Driver<C, B> {
    pub(crate) link: Link<C>,
    id: EndpointId,
    features: Features,
    pub(crate) buffers: Option<B>,
}

impl<C, B> core::fmt::Debug for Driver<C, B> {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("Driver")
            .field("version", &self.link.version)
            .field("id", &self.id)
            .field("features", &self.features)
            .field("buffers_mapped", &self.buffers.is_some())
            .finish()
    }
}

/// Asks for `highest`, then for lower minor versions while the callee answers NOT_SUPPORTED
/// (a callee may refuse a newer minor instead of answering its own version).
fn negotiate_version<C: Conduit>(conduit: &mut C, highest: Version) -> Result<Version> {
    let failure = |kind| DriverError::new(FunctionId::Version, kind);
    let mut candidate = highest;
    loop {
        let call = Call::Version { requested: candidate.to_word() };
        let answer = conduit.call(call.encode(Version::V1_0));
        let response = Return::decode_version(&answer)
            .map_err(|_| failure(ErrorKind::MalformedResponse("FFA_VERSION word")))?;
        match response {
            Return::Version(VersionResponse::Supported(offered)) => {
                return ffa_core::version::agreed_version(
                    candidate,
                    VersionResponse::Supported(offered),
                )
                .ok_or(failure(ErrorKind::IncompatibleVersion {
                    requested: highest,
                    offered: Some(offered),
                }));
            }
            _ => {
                let lower = candidate
                    .minor()
                    .checked_sub(1)
                    .and_then(|minor| Version::new(candidate.major(), minor));
                match lower {
                    Some(lower) if lower >= Version::V1_0 => candidate = lower,
                    _ => {
                        return Err(failure(ErrorKind::IncompatibleVersion {
                            requested: highest,
                            offered: None,
                        }))
                    }
                }
            }
        }
    }
}

impl<C: Conduit, B: Buffers> Driver<C, B> {
    /// The highest FF-A version the driver implements and asks for.
    pub const HIGHEST_VERSION: Version = Version::V1_2;

    /// Brings the driver up: negotiates the version (asking for v1.2 and accepting any
    /// compatible v1.x), reads our endpoint ID with FFA_ID_GET and probes FFA_FEATURES.
    pub fn new(conduit: C) -> Result<Self> {
        Self::with_highest_version(conduit, Self::HIGHEST_VERSION)
    }

    /// As [`Driver::new`], but asking for at most `highest` (e.g. to stay at v1.1).
    pub fn with_highest_version(mut conduit: C, highest: Version) -> Result<Self> {
        let highest = core::cmp::min(highest, Self::HIGHEST_VERSION);
        let version = negotiate_version(&mut conduit, highest)?;
        let mut link = Link { conduit, version };
        let args = link.call_success(Call::IdGet)?;
        let word = args.register(2);
        if word >> 16 != 0 {
            return Err(DriverError::new(
                FunctionId::IdGet,
                ErrorKind::MalformedResponse("ID_GET w2[31:16] not zero"),
            ));
        }
        let id = EndpointId(word as u16);
        let features = Features::probe(&mut link, version)?;
        Ok(Self { link, id, features, buffers: None })
    }

    /// The negotiated FF-A version.
    pub fn version(&self) -> Version {
        self.link.version
    }

    /// Our endpoint ID (FFA_ID_GET).
    pub fn id(&self) -> EndpointId {
        self.id
    }

    /// What FFA_FEATURES reported.
    pub fn features(&self) -> &Features {
        &self.features
    }

    /// The conduit, e.g. for calls this driver does not wrap.
    pub fn conduit(&mut self) -> &mut C {
        &mut self.link.conduit
    }

    /// Makes any call at the negotiated version and returns the non-error answer; FFA_ERROR
    /// becomes [`ErrorKind::Ffa`].
    pub fn call(&mut self, call: Call) -> Result<Return> {
        self.link.call(call)
    }

    /// Whether RX/TX buffers are mapped.
    pub fn buffers_mapped(&self) -> bool {
        self.buffers.is_some()
    }

    /// Maps `buffers` with FFA_RXTX_MAP (the SMC64 form when offered). They must satisfy
    /// [`Features::buffers`]; on failure they are handed back.
    pub fn map_buffers(&mut self, buffers: B) -> core::result::Result<(), MapError<B>> {
        let function =
            if self.features.rxtx_map_64 { FunctionId::RxtxMap64 } else { FunctionId::RxtxMap32 };
        let fail =
            |kind, buffers| Err(MapError { error: DriverError::new(function, kind), buffers });
        if self.buffers.is_some() {
            return fail(ErrorKind::BuffersAlreadyMapped, buffers);
        }
        let (tx_address, rx_address) = (buffers.tx_address(), buffers.rx_address());
        let page_count = match self.features.buffers.check(tx_address, rx_address, buffers.size()) {
            Ok(page_count) => page_count,
            Err(reason) => return fail(ErrorKind::InvalidArgument(reason), buffers),
        };
        if !self.features.rxtx_map_64 && (tx_address >> 32 != 0 || rx_address >> 32 != 0) {
            return fail(
                ErrorKind::InvalidArgument("FFA_RXTX_MAP_32 needs addresses below 4 GiB"),
                buffers,
            );
        }
        let call = Call::RxtxMap {
            buffers: RxtxMapArgs::Buffers { tx_address, rx_address, page_count },
            is_64: self.features.rxtx_map_64,
        };
        match self.link.call_success(call) {
            Ok(_) => {
                self.buffers = Some(buffers);
                Ok(())
            }
            Err(error) => Err(MapError { error, buffers }),
        }
    }

    /// Unmaps the buffers with FFA_RXTX_UNMAP and hands them back.
    pub fn unmap_buffers(&mut self) -> Result<B> {
        if self.buffers.is_none() {
            return Err(DriverError::new(FunctionId::RxtxUnmap, ErrorKind::BuffersNotMapped));
        }
        self.link.call_success(Call::RxtxUnmap { vm_id: EndpointId(0) })?;
        self.buffers
            .take()
            .ok_or(DriverError::new(FunctionId::RxtxUnmap, ErrorKind::BuffersNotMapped))
    }

    /// The mapped buffers, e.g. to write a descriptor for a call this driver does not wrap.
    pub fn buffers_mut(&mut self) -> Option<&mut B> {
        self.buffers.as_mut()
    }

    /// FFA_RX_RELEASE: gives the RX buffer back to the partition manager.
    pub fn release_rx(&mut self) -> Result<()> {
        self.link.call_success(Call::RxRelease { vm_id: EndpointId(0) }).map(drop)
    }

    /// The mapped buffers, or `BuffersNotMapped` for `call`.
    pub(crate) fn mapped(&mut self, call: FunctionId) -> Result<&mut B> {
        self.buffers.as_mut().ok_or(DriverError::new(call, ErrorKind::BuffersNotMapped))
    }

    /// Fails with `NotOffered` when FFA_FEATURES said `function` is absent.
    pub(crate) fn require(&self, function: FunctionId) -> Result<()> {
        if self.features.offers(function) == Some(false) {
            return Err(DriverError::new(function, ErrorKind::NotOffered));
        }
        Ok(())
    }
}
