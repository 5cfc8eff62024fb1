//! One test per conformance-matrix row the ledger decides: the exact error, and that a refused
//! operation changes neither the ledger nor any mapping or page.

mod common;

use common::*;
use ffa_core::memory::*;
use ffa_core::{EndpointId, FfaError};
use memory_sharing::*;

use TransactionType::{Donate, Lend, Share};

const NONE: RelinquishFlags = RelinquishFlags { clear_memory: false, time_slicing: false };
const CLEAR: RelinquishFlags = RelinquishFlags { clear_memory: true, time_slicing: false };
const RECLAIM: ReclaimFlags = ReclaimFlags { clear_memory: false, time_slicing: false };
const RECLAIM_CLEAR: ReclaimFlags = ReclaimFlags { clear_memory: true, time_slicing: false };

#[test]
fn mm01_share_retrieve_relinquish_reclaim_keeps_data_and_lender_access() {
    let (mut ledger, mut space) = fixture();
    let ranges = [range(page(VM1, 4), 2)];
    let handle = send(&mut ledger, &mut space, Share, VM1, &[SP1], &ranges).unwrap();
    assert_eq!(handle.allocator(), HandleAllocator::Spmc);
    assert!(space.mapped(VM1, page(VM1, 4)).is_some(), "the lender keeps access");
    let info = retrieve(&mut ledger, &mut space, SP1, handle, VM1, Share, &[SP1]).unwrap();
    assert_eq!(info.flags.transaction_type(), Some(Share));
    assert!(!info.flags.clear_memory());
    assert_eq!(info.access.permissions.instruction, InstructionAccess::NotExecutable);
    assert!(info.attributes.non_secure, "VM memory is non-secure");
    assert_eq!(info.page_count, 2);
    assert_eq!(space.mapped(SP1, page(VM1, 5)).unwrap().data, DataAccess::ReadWrite);
    ledger.relinquish(SP1, handle, NONE, &mut space).unwrap();
    assert!(space.mapped(SP1, page(VM1, 5)).is_none());
    ledger.reclaim(VM1, handle, RECLAIM, &mut space).unwrap();
    assert_eq!(space.content(page(VM1, 5)), 0xA5, "data intact");
    assert_eq!(space.mappers(page(VM1, 4)), vec![VM1]);
    assert!(ledger.hypervisor_retrieve(handle).is_err());
}

#[test]
fn mm01_secure_memory_reports_ns_bit_clear() {
    let (mut ledger, mut space) = fixture();
    let handle =
        send(&mut ledger, &mut space, Share, SP1, &[SP2], &[range(page(SP1, 0), 1)]).unwrap();
    let info = retrieve(&mut ledger, &mut space, SP2, handle, SP1, Share, &[SP2]).unwrap();
    assert!(!info.attributes.non_secure);
}

#[test]
fn mm02_borrower_cannot_relend_or_reshare_borrowed_memory() {
    for first in [Share, Lend] {
        let (mut ledger, mut space) = fixture();
        let ranges = [range(page(VM1, 0), 1)];
        let handle = send(&mut ledger, &mut space, first, VM1, &[SP1], &ranges).unwrap();
        retrieve(&mut ledger, &mut space, SP1, handle, VM1, first, &[SP1]).unwrap();
        for again in [Share, Lend, Donate] {
            assert_refused(&mut ledger, &mut space, FfaError::Denied, |ledger, space| {
                send(ledger, space, again, SP1, &[SP2], &ranges)
            });
        }
    }
}

#[test]
fn mm03_receiver_ffff_or_sender_is_invalid() {
    let (mut ledger, mut space) = fixture();
    for call in [Share, Lend, Donate] {
        for bad in [EndpointId(0xFFFF), VM1] {
            assert_refused(
                &mut ledger,
                &mut space,
                FfaError::InvalidParameters,
                |ledger, space| send(ledger, space, call, VM1, &[bad], &[range(page(VM1, 0), 1)]),
            );
        }
    }
}

#[test]
fn mm04_share_with_zero_flag_is_invalid() {
    let (mut ledger, mut space) = fixture();
    let access = receivers(Share, DataAccess::ReadWrite, &[SP1]);
    let mut request = request(VM1, Share, &access, 1);
    request.fields.flags = TransactionFlags(TransactionFlags::CLEAR_MEMORY);
    assert_refused(&mut ledger, &mut space, FfaError::InvalidParameters, |ledger, space| {
        ledger.send(&request, &[range(page(VM1, 0), 1)], space)
    });
}

#[test]
fn mm05_lender_instruction_access_is_invalid() {
    let (mut ledger, mut space) = fixture();
    for (call, ids, instruction) in [
        (Share, &[SP1][..], InstructionAccess::NotExecutable),
        (Lend, &[SP1][..], InstructionAccess::Executable),
        (Lend, &[SP1, SP2][..], InstructionAccess::NotExecutable),
    ] {
        let access: Vec<_> = ids
            .iter()
            .map(|id| {
                ReceiverAccess::new(
                    *id,
                    AccessPermissions { data: DataAccess::ReadWrite, instruction },
                )
            })
            .collect();
        let request = request(VM1, call, &access, 1);
        assert_refused(&mut ledger, &mut space, FfaError::InvalidParameters, |ledger, space| {
            ledger.send(&request, &[range(page(VM1, 0), 1)], space)
        });
    }
}

#[test]
fn mm06_memory_type_and_donate_permissions_are_checked() {
    let (mut ledger, mut space) = fixture();
    let one = receivers(Lend, DataAccess::ReadWrite, &[SP1]);
    let mut lend = request(VM1, Lend, &one, 1);
    lend.fields.attributes = MemoryRegionAttributes::NORMAL_WRITE_BACK_INNER;
    assert_refused(&mut ledger, &mut space, FfaError::InvalidParameters, |ledger, space| {
        ledger.send(&lend, &[range(page(VM1, 0), 1)], space)
    });
    let rw = [ReceiverAccess::new(SP1, AccessPermissions::READ_WRITE)];
    let donate = request(VM1, Donate, &rw, 1);
    assert_refused(&mut ledger, &mut space, FfaError::InvalidParameters, |ledger, space| {
        ledger.send(&donate, &[range(page(VM1, 0), 1)], space)
    });
}

#[test]
fn mm07_sender_not_caller_is_denied() {
    let (mut ledger, mut space) = fixture();
    let access = receivers(Share, DataAccess::ReadWrite, &[SP1]);
    let mut request = request(VM1, Share, &access, 1);
    request.caller = VM2;
    assert_refused(&mut ledger, &mut space, FfaError::Denied, |ledger, space| {
        ledger.send(&request, &[range(page(VM1, 0), 1)], space)
    });
}

#[test]
fn mm09_overlapping_constituents_and_page_count_mismatch_are_invalid() {
    let (mut ledger, mut space) = fixture();
    assert_refused(&mut ledger, &mut space, FfaError::InvalidParameters, |ledger, space| {
        send(ledger, space, Share, VM1, &[SP1], &[range(page(VM1, 4), 2), range(page(VM1, 5), 1)])
    });
    let access = receivers(Share, DataAccess::ReadWrite, &[SP1]);
    let request = request(VM1, Share, &access, 3);
    assert_refused(&mut ledger, &mut space, FfaError::InvalidParameters, |ledger, space| {
        ledger.send(&request, &[range(page(VM1, 0), 2)], space)
    });
    assert_refused(&mut ledger, &mut space, FfaError::InvalidParameters, |ledger, space| {
        ledger.send(&request, &[range(page(VM1, 0) + 0x800, 3)], space)
    });
    assert_refused(&mut ledger, &mut space, FfaError::InvalidParameters, |ledger, space| {
        ledger.send(&common::request(VM1, Share, &[], 1), &[range(page(VM1, 0), 1)], space)
    });
}

#[test]
fn mm10_secure_memory_to_normal_world_is_denied() {
    let (mut ledger, mut space) = fixture();
    for call in [Share, Lend, Donate] {
        assert_refused(&mut ledger, &mut space, FfaError::Denied, |ledger, space| {
            send(ledger, space, call, SP1, &[VM1], &[range(page(SP1, 0), 1)])
        });
    }
}

#[test]
fn mm11_ns_bit_in_send_or_retrieve_is_invalid() {
    let (mut ledger, mut space) = fixture();
    let access = receivers(Share, DataAccess::ReadWrite, &[SP1]);
    let mut request = request(VM1, Share, &access, 1);
    request.fields.attributes.non_secure = true;
    assert_refused(&mut ledger, &mut space, FfaError::InvalidParameters, |ledger, space| {
        ledger.send(&request, &[range(page(VM1, 0), 1)], space)
    });
    let handle =
        send(&mut ledger, &mut space, Share, VM1, &[SP1], &[range(page(VM1, 0), 1)]).unwrap();
    let list = listed(Share, DataAccess::ReadWrite, &[SP1]);
    let mut retrieve = retrieve_request(SP1, handle, VM1, Share, &list);
    retrieve.attributes =
        MemoryRegionAttributes { non_secure: true, ..MemoryRegionAttributes::NOT_SPECIFIED };
    assert_refused(&mut ledger, &mut space, FfaError::InvalidParameters, |ledger, space| {
        ledger.retrieve(&retrieve, space)
    });
}

#[test]
fn mm12_device_memory_cannot_be_sent() {
    let (mut ledger, mut space) = fixture();
    for call in [Share, Lend] {
        assert_refused(&mut ledger, &mut space, FfaError::Denied, |ledger, space| {
            send(ledger, space, call, SP1, &[SP2], &[range(DEVICE_BASE, 1)])
        });
    }
}

#[test]
fn mm13_read_only_memory_cannot_be_granted_write_or_zeroed() {
    let (mut ledger, mut space) = fixture();
    ledger.mark_read_only(VM1, range(page(VM1, 8), 4)).unwrap();
    assert_refused(&mut ledger, &mut space, FfaError::Denied, |ledger, space| {
        send(ledger, space, Share, VM1, &[SP1], &[range(page(VM1, 8), 1)])
    });
    let access = receivers(Lend, DataAccess::ReadOnly, &[SP1]);
    let mut lend = request(VM1, Lend, &access, 1);
    lend.fields.flags = TransactionFlags(TransactionFlags::CLEAR_MEMORY);
    assert_refused(&mut ledger, &mut space, FfaError::Denied, |ledger, space| {
        ledger.send(&lend, &[range(page(VM1, 9), 1)], space)
    });
    lend.fields.flags = TransactionFlags(0);
    let handle = ledger.send(&lend, &[range(page(VM1, 9), 1)], &mut space).unwrap();
    assert_refused(&mut ledger, &mut space, FfaError::Denied, |ledger, space| {
        ledger.reclaim(VM1, handle, RECLAIM_CLEAR, space)
    });
    ledger.reclaim(VM1, handle, RECLAIM, &mut space).unwrap();
    assert_eq!(space.mapped(VM1, page(VM1, 9)).unwrap().data, DataAccess::ReadOnly);
}

#[test]
fn mm14_resending_sent_pages_or_a_sub_page_is_denied() {
    for first in [Share, Lend, Donate] {
        let (mut ledger, mut space) = fixture();
        send(&mut ledger, &mut space, first, VM1, &[SP1], &[range(page(VM1, 0), 4)]).unwrap();
        for again in [Share, Lend, Donate] {
            assert_refused(&mut ledger, &mut space, FfaError::Denied, |ledger, space| {
                send(ledger, space, again, VM1, &[SP2], &[range(page(VM1, 3), 2)])
            });
        }
    }
}

#[test]
fn mm15_retrieve_with_invalid_handle_or_tag_is_invalid() {
    let (mut ledger, mut space) = fixture();
    let handle =
        send(&mut ledger, &mut space, Lend, VM1, &[SP1], &[range(page(VM1, 0), 1)]).unwrap();
    let list = listed(Lend, DataAccess::ReadWrite, &[SP1]);
    for bad in
        [MemoryHandle(handle.0 + 1), MemoryHandle(handle.0 ^ (1 << 40)), MemoryHandle::INVALID]
    {
        let request = retrieve_request(SP1, bad, VM1, Lend, &list);
        assert_refused(&mut ledger, &mut space, FfaError::InvalidParameters, |ledger, space| {
            ledger.retrieve(&request, space)
        });
    }
    let mut request = retrieve_request(SP1, handle, VM1, Lend, &list);
    request.tag = 8;
    assert_refused(&mut ledger, &mut space, FfaError::InvalidParameters, |ledger, space| {
        ledger.retrieve(&request, space)
    });
}

#[test]
fn mm16_retrieve_type_mismatch_is_invalid() {
    let (mut ledger, mut space) = fixture();
    let handle =
        send(&mut ledger, &mut space, Lend, VM1, &[SP1], &[range(page(VM1, 0), 1)]).unwrap();
    let list = listed(Lend, DataAccess::ReadWrite, &[SP1]);
    for wrong in [Share, Donate] {
        let request = retrieve_request(SP1, handle, VM1, wrong, &list);
        assert_refused(&mut ledger, &mut space, FfaError::InvalidParameters, |ledger, space| {
            ledger.retrieve(&request, space)
        });
    }
}

#[test]
fn mm17_retrieve_by_non_receiver_or_with_wrong_sender_is_denied() {
    let (mut ledger, mut space) = fixture();
    let handle =
        send(&mut ledger, &mut space, Lend, VM1, &[SP1], &[range(page(VM1, 0), 1)]).unwrap();
    assert_refused(&mut ledger, &mut space, FfaError::Denied, |ledger, space| {
        retrieve(ledger, space, SP2, handle, VM1, Lend, &[SP2])
    });
    assert_refused(&mut ledger, &mut space, FfaError::Denied, |ledger, space| {
        retrieve(ledger, space, SP1, handle, VM2, Lend, &[SP1])
    });
}

#[test]
fn mm18_retrieve_zero_flag_rules() {
    let (mut ledger, mut space) = fixture();
    let share =
        send(&mut ledger, &mut space, Share, VM1, &[SP1], &[range(page(VM1, 0), 1)]).unwrap();
    let list = listed(Share, DataAccess::ReadWrite, &[SP1]);
    let mut request = retrieve_request(SP1, share, VM1, Share, &list);
    request.flags = TransactionFlags(TransactionFlags::CLEAR_MEMORY);
    assert_refused(&mut ledger, &mut space, FfaError::InvalidParameters, |ledger, space| {
        ledger.retrieve(&request, space)
    });
    // Donate not zero-flagged by the sender: a clear-flagged retrieve is refused.
    let donate =
        send(&mut ledger, &mut space, Donate, VM1, &[SP1], &[range(page(VM1, 1), 1)]).unwrap();
    let list = listed(Donate, DataAccess::NotSpecified, &[SP1]);
    let mut request = retrieve_request(SP1, donate, VM1, Donate, &list);
    request.flags = TransactionFlags(TransactionFlags::CLEAR_MEMORY).with_type(Donate);
    assert_refused(&mut ledger, &mut space, FfaError::Denied, |ledger, space| {
        ledger.retrieve(&request, space)
    });
    // Lend read-only: a clear-flagged retrieve is denied.
    let access = receivers(Lend, DataAccess::ReadOnly, &[SP1]);
    let lend = ledger
        .send(&common::request(VM1, Lend, &access, 1), &[range(page(VM1, 2), 1)], &mut space)
        .unwrap();
    let list = listed(Lend, DataAccess::ReadOnly, &[SP1]);
    let mut request = retrieve_request(SP1, lend, VM1, Lend, &list);
    request.flags = TransactionFlags(TransactionFlags::CLEAR_MEMORY).with_type(Lend);
    assert_refused(&mut ledger, &mut space, FfaError::Denied, |ledger, space| {
        ledger.retrieve(&request, space)
    });
}

#[test]
fn mm19_retrieve_cannot_exceed_granted_data_access() {
    let (mut ledger, mut space) = fixture();
    for call in [Lend, Share] {
        let access = receivers(call, DataAccess::ReadOnly, &[SP1]);
        let base = if call == Lend { 0 } else { 1 };
        let handle = ledger
            .send(&request(VM1, call, &access, 1), &[range(page(VM1, base), 1)], &mut space)
            .unwrap();
        let list = listed(call, DataAccess::ReadWrite, &[SP1]);
        let request = retrieve_request(SP1, handle, VM1, call, &list);
        assert_refused(&mut ledger, &mut space, FfaError::Denied, |ledger, space| {
            ledger.retrieve(&request, space)
        });
    }
    let handle =
        send(&mut ledger, &mut space, Lend, VM1, &[SP1], &[range(page(VM1, 2), 1)]).unwrap();
    let list = listed(Lend, DataAccess::ReadOnly, &[SP1]);
    let info =
        ledger.retrieve(&retrieve_request(SP1, handle, VM1, Lend, &list), &mut space).unwrap();
    assert_eq!(info.access.permissions.data, DataAccess::ReadOnly);
    assert_eq!(space.mapped(SP1, page(VM1, 2)).unwrap().data, DataAccess::ReadOnly);
}

#[test]
fn mm20_executable_device_retrieve_is_denied() {
    let (mut ledger, mut space) = fixture();
    let handle =
        send(&mut ledger, &mut space, Lend, VM1, &[SP1], &[range(page(VM1, 0), 1)]).unwrap();
    let list = [ReceiverAccess::new(
        SP1,
        AccessPermissions {
            data: DataAccess::ReadWrite,
            instruction: InstructionAccess::Executable,
        },
    )];
    let mut request = retrieve_request(SP1, handle, VM1, Lend, &list);
    request.attributes = MemoryRegionAttributes {
        memory_type: MemoryType::Device(DeviceAttributes::NonGatheringNonReorderingNoEarlyAck),
        non_secure: false,
    };
    assert_refused(&mut ledger, &mut space, FfaError::Denied, |ledger, space| {
        ledger.retrieve(&request, space)
    });
}

#[test]
fn mm21_instruction_access_in_multi_borrower_lend_retrieve_is_invalid() {
    let (mut ledger, mut space) = fixture();
    let handle =
        send(&mut ledger, &mut space, Lend, VM1, &[SP1, SP2], &[range(page(VM1, 0), 1)]).unwrap();
    let list: Vec<_> = [SP1, SP2]
        .iter()
        .map(|id| {
            ReceiverAccess::new(
                *id,
                AccessPermissions {
                    data: DataAccess::ReadWrite,
                    instruction: InstructionAccess::NotExecutable,
                },
            )
        })
        .collect();
    let request = retrieve_request(SP1, handle, VM1, Lend, &list);
    assert_refused(&mut ledger, &mut space, FfaError::InvalidParameters, |ledger, space| {
        ledger.retrieve(&request, space)
    });
    retrieve(&mut ledger, &mut space, SP1, handle, VM1, Lend, &[SP1, SP2]).unwrap();
    retrieve(&mut ledger, &mut space, SP2, handle, VM1, Lend, &[SP1, SP2]).unwrap();
    assert_eq!(space.mappers(page(VM1, 0)), vec![SP1, SP2]);
}

#[test]
fn mm22_lend_with_clear_flag_zeroes_and_reports_it() {
    let (mut ledger, mut space) = fixture();
    let access = receivers(Lend, DataAccess::ReadWrite, &[SP1]);
    let mut lend = request(VM1, Lend, &access, 2);
    lend.fields.flags = TransactionFlags(TransactionFlags::CLEAR_MEMORY);
    let handle = ledger.send(&lend, &[range(page(VM1, 0), 2)], &mut space).unwrap();
    assert_eq!(space.content(page(VM1, 1)), 0xA5, "not zeroed before retrieve");
    let info = retrieve(&mut ledger, &mut space, SP1, handle, VM1, Lend, &[SP1]).unwrap();
    assert!(info.flags.clear_memory());
    assert_eq!(space.content(page(VM1, 0)), 0);
    assert_eq!(space.content(page(VM1, 1)), 0);
    assert_eq!(space.content(page(VM1, 2)), 0xA5);
}

#[test]
fn mm23_alignment_hint_without_valid_bit_is_invalid() {
    let (mut ledger, mut space) = fixture();
    let handle =
        send(&mut ledger, &mut space, Share, VM1, &[SP1], &[range(page(VM1, 0), 1)]).unwrap();
    let list = listed(Share, DataAccess::ReadWrite, &[SP1]);
    let mut request = retrieve_request(SP1, handle, VM1, Share, &list);
    request.flags = TransactionFlags(request.flags.0 | 1 << 5);
    assert_refused(&mut ledger, &mut space, FfaError::InvalidParameters, |ledger, space| {
        ledger.retrieve(&request, space)
    });
}

#[test]
fn mm24_re_retrieve_with_clear_flag_is_invalid_and_without_is_denied() {
    let (mut ledger, mut space) = fixture();
    let access = receivers(Lend, DataAccess::ReadWrite, &[SP1]);
    let mut lend = request(VM1, Lend, &access, 1);
    lend.fields.flags = TransactionFlags(TransactionFlags::CLEAR_MEMORY);
    let handle = ledger.send(&lend, &[range(page(VM1, 0), 1)], &mut space).unwrap();
    retrieve(&mut ledger, &mut space, SP1, handle, VM1, Lend, &[SP1]).unwrap();
    space.write(page(VM1, 0), 0x42);
    let list = listed(Lend, DataAccess::NotSpecified, &[SP1]);
    let mut request = retrieve_request(SP1, handle, VM1, Lend, &list);
    request.flags = TransactionFlags(TransactionFlags::CLEAR_MEMORY).with_type(Lend);
    assert_refused(&mut ledger, &mut space, FfaError::InvalidParameters, |ledger, space| {
        ledger.retrieve(&request, space)
    });
    assert_refused(&mut ledger, &mut space, FfaError::Denied, |ledger, space| {
        retrieve(ledger, space, SP1, handle, VM1, Lend, &[SP1])
    });
}

#[test]
fn mm25_v1_2_retrieve_with_wrong_impdef_is_invalid() {
    let (mut ledger, mut space) = fixture();
    let access = [ReceiverAccess {
        impdef: [1, 2],
        ..ReceiverAccess::new(SP1, AccessPermissions::READ_WRITE)
    }];
    let handle = ledger
        .send(&request(VM1, Share, &access, 1), &[range(page(VM1, 0), 1)], &mut space)
        .unwrap();
    let mut list = listed(Share, DataAccess::ReadWrite, &[SP1]);
    list[0].impdef = [1, 3];
    let mut request = retrieve_request(SP1, handle, VM1, Share, &list);
    request.layout = Layout::V1_2;
    assert_refused(&mut ledger, &mut space, FfaError::InvalidParameters, |ledger, space| {
        ledger.retrieve(&request, space)
    });
    let mut good = list.clone();
    good[0].impdef = [1, 2];
    let request = RetrieveArguments { receivers: &good, ..request };
    ledger.retrieve(&request, &mut space).unwrap();
}

#[test]
fn mm26_bypass_flag_with_single_borrower_is_invalid() {
    let (mut ledger, mut space) = fixture();
    let single =
        send(&mut ledger, &mut space, Share, VM1, &[SP1], &[range(page(VM1, 0), 1)]).unwrap();
    let list = listed(Share, DataAccess::ReadWrite, &[SP1]);
    let mut request = retrieve_request(SP1, single, VM1, Share, &list);
    request.layout = Layout::V1_2;
    request.flags =
        TransactionFlags(request.flags.0 | TransactionFlags::BYPASS_MULTI_BORROWER_CHECK);
    assert_refused(&mut ledger, &mut space, FfaError::InvalidParameters, |ledger, space| {
        ledger.retrieve(&request, space)
    });
    // With two borrowers, the bypass flag lets one list only itself.
    let double =
        send(&mut ledger, &mut space, Share, VM1, &[SP1, SP2], &[range(page(VM1, 1), 1)]).unwrap();
    let request = RetrieveArguments { handle: double, ..request };
    ledger.retrieve(&request, &mut space).unwrap();
    // Without it, the list must name every borrower.
    let list = listed(Share, DataAccess::ReadWrite, &[SP2]);
    let request = retrieve_request(SP2, double, VM1, Share, &list);
    assert_refused(&mut ledger, &mut space, FfaError::InvalidParameters, |ledger, space| {
        ledger.retrieve(&request, space)
    });
}

#[test]
fn mm27_relinquish_clear_on_share_or_invalid_handle_is_invalid() {
    let (mut ledger, mut space) = fixture();
    let handle =
        send(&mut ledger, &mut space, Share, VM1, &[SP1], &[range(page(VM1, 0), 1)]).unwrap();
    retrieve(&mut ledger, &mut space, SP1, handle, VM1, Share, &[SP1]).unwrap();
    assert_refused(&mut ledger, &mut space, FfaError::InvalidParameters, |ledger, space| {
        ledger.relinquish(SP1, handle, CLEAR, space)
    });
    assert_refused(&mut ledger, &mut space, FfaError::InvalidParameters, |ledger, space| {
        ledger.relinquish(SP1, MemoryHandle(handle.0 + 1), NONE, space)
    });
    assert_eq!(RelinquishDescriptor::parse(&[0; 16]).err(), Some(FfaError::InvalidParameters));
}

#[test]
fn mm28_relinquish_before_retrieve_or_clear_by_read_only_borrower_is_denied() {
    let (mut ledger, mut space) = fixture();
    let access = receivers(Lend, DataAccess::ReadOnly, &[SP1]);
    let handle = ledger
        .send(&request(VM1, Lend, &access, 1), &[range(page(VM1, 0), 1)], &mut space)
        .unwrap();
    assert_refused(&mut ledger, &mut space, FfaError::Denied, |ledger, space| {
        ledger.relinquish(SP1, handle, NONE, space)
    });
    retrieve(&mut ledger, &mut space, SP1, handle, VM1, Lend, &[SP1]).unwrap();
    assert_refused(&mut ledger, &mut space, FfaError::Denied, |ledger, space| {
        ledger.relinquish(SP1, handle, CLEAR, space)
    });
    assert_refused(&mut ledger, &mut space, FfaError::Denied, |ledger, space| {
        ledger.relinquish(SP2, handle, NONE, space)
    });
    ledger.relinquish(SP1, handle, NONE, &mut space).unwrap();
    assert_refused(&mut ledger, &mut space, FfaError::Denied, |ledger, space| {
        ledger.relinquish(SP1, handle, NONE, space)
    });
}

#[test]
fn mm28_relinquish_with_clear_zeroes_after_unmapping() {
    let (mut ledger, mut space) = fixture();
    let handle =
        send(&mut ledger, &mut space, Lend, VM1, &[SP1], &[range(page(VM1, 0), 1)]).unwrap();
    retrieve(&mut ledger, &mut space, SP1, handle, VM1, Lend, &[SP1]).unwrap();
    ledger.relinquish(SP1, handle, CLEAR, &mut space).unwrap();
    assert_eq!(space.content(page(VM1, 0)), 0);
    assert!(space.mappers(page(VM1, 0)).is_empty());
}

#[test]
fn mm29_reclaim_rules_and_zeroing() {
    let (mut ledger, mut space) = fixture();
    let handle =
        send(&mut ledger, &mut space, Lend, VM1, &[SP1], &[range(page(VM1, 0), 2)]).unwrap();
    assert!(space.mappers(page(VM1, 0)).is_empty(), "lender loses access");
    assert_refused(&mut ledger, &mut space, FfaError::InvalidParameters, |ledger, space| {
        ledger.reclaim(VM1, MemoryHandle(handle.0 + 1), RECLAIM, space)
    });
    retrieve(&mut ledger, &mut space, SP1, handle, VM1, Lend, &[SP1]).unwrap();
    assert_refused(&mut ledger, &mut space, FfaError::Denied, |ledger, space| {
        ledger.reclaim(VM1, handle, RECLAIM, space)
    });
    assert_refused(&mut ledger, &mut space, FfaError::Denied, |ledger, space| {
        ledger.reclaim(VM2, handle, RECLAIM, space)
    });
    ledger.relinquish(SP1, handle, NONE, &mut space).unwrap();
    ledger.reclaim(VM1, handle, RECLAIM_CLEAR, &mut space).unwrap();
    assert_eq!(space.content(page(VM1, 1)), 0);
    assert_eq!(space.mapped(VM1, page(VM1, 1)), Some(AccessPermissions::READ_WRITE), "owner back");
    assert_refused(&mut ledger, &mut space, FfaError::InvalidParameters, |ledger, space| {
        ledger.reclaim(VM1, handle, RECLAIM, space)
    });
}

#[test]
fn mm32_batched_send_and_hypervisor_retrieve_give_the_whole_transaction() {
    let (mut ledger, mut space) = fixture();
    let access = receivers(Share, DataAccess::ReadWrite, &[SP1, SP2]);
    let ranges: Vec<_> = (0..10).map(|n| range(page(VM1, 2 * n), 1)).collect();
    let pending = ledger.begin_send(&request(VM1, Share, &access, 10)).unwrap();
    let before = snapshot(&ledger).transactions;
    for chunk in ranges.chunks(3) {
        ledger.add_ranges(pending, chunk).unwrap();
    }
    assert_eq!(snapshot(&ledger).transactions, before, "nothing visible before commit");
    assert_eq!(
        retrieve(&mut ledger, &mut space, SP1, pending.handle(), VM1, Share, &[SP1, SP2]).err(),
        Some(FfaError::InvalidParameters)
    );
    let handle = ledger.commit(pending, &mut space).unwrap();
    assert_eq!(handle, pending.handle());
    let info = ledger.hypervisor_retrieve(handle).unwrap();
    assert_eq!(
        (info.sender, info.receiver_count, info.page_count, info.range_count),
        (VM1, 2, 10, 10)
    );
    assert_eq!(info.tag, 7);
    assert_eq!(ledger.receivers(handle).unwrap().collect::<Vec<_>>(), access);
    assert_eq!(all_ranges(&ledger, handle), ranges, "batches of 3, sender's order");
}

#[test]
fn mm32_aborted_batched_send_leaves_nothing() {
    let (mut ledger, mut space) = fixture();
    let before = (snapshot(&ledger), space.state());
    let access = receivers(Lend, DataAccess::ReadWrite, &[SP1]);
    let pending = ledger.begin_send(&request(VM1, Lend, &access, 1)).unwrap();
    ledger.add_ranges(pending, &[range(page(VM1, 0), 1)]).unwrap();
    ledger.abort(pending).unwrap();
    assert_eq!((snapshot(&ledger), space.state()), before);
    assert_eq!(ledger.commit(pending, &mut space).err(), Some(FfaError::InvalidParameters));
}

#[test]
fn mm33_sending_memory_of_another_endpoint_or_unknown_memory_is_denied() {
    let (mut ledger, mut space) = fixture();
    assert_refused(&mut ledger, &mut space, FfaError::Denied, |ledger, space| {
        send(ledger, space, Share, VM1, &[SP1], &[range(page(SP1, 0), 1)])
    });
    assert_refused(&mut ledger, &mut space, FfaError::Denied, |ledger, space| {
        send(ledger, space, Share, VM1, &[SP1], &[range(0x7000_0000, 1)])
    });
    assert_refused(&mut ledger, &mut space, FfaError::Denied, |ledger, space| {
        send(ledger, space, Share, VM1, &[SP1], &[range(page(VM1, 63), 2)])
    });
}

#[test]
fn d21_rxtx_pages_cannot_be_sent() {
    let (mut ledger, mut space) = fixture();
    ledger.mark_rxtx(VM1, range(page(VM1, 10), 2)).unwrap();
    for call in [Share, Lend, Donate] {
        assert_refused(&mut ledger, &mut space, FfaError::Denied, |ledger, space| {
            send(ledger, space, call, VM1, &[SP1], &[range(page(VM1, 9), 2)])
        });
    }
    send(&mut ledger, &mut space, Share, VM1, &[SP1], &[range(page(VM1, 12), 1)]).unwrap();
}

#[test]
fn unmarked_rxtx_pages_can_be_sent_again() {
    let (mut ledger, mut space) = fixture();
    let regions = ledger.regions().len();
    ledger.mark_rxtx(VM1, range(page(VM1, 10), 2)).unwrap();
    assert_eq!(ledger.regions().len(), regions + 2, "the region splits around the buffers");
    assert_eq!(ledger.unmark_rxtx(VM2, range(page(VM1, 10), 2)), Err(FfaError::InvalidParameters));
    ledger.unmark_rxtx(VM1, range(page(VM1, 10), 2)).unwrap();
    assert_eq!(ledger.regions().len(), regions, "the pieces merge back");
    send(&mut ledger, &mut space, Share, VM1, &[SP1], &[range(page(VM1, 10), 2)]).unwrap();
}

#[test]
fn donate_moves_ownership_and_ends_the_transaction() {
    let (mut ledger, mut space) = fixture();
    let handle =
        send(&mut ledger, &mut space, Donate, VM1, &[VM2], &[range(page(VM1, 5), 2)]).unwrap();
    retrieve(&mut ledger, &mut space, VM2, handle, VM1, Donate, &[VM2]).unwrap();
    assert_eq!(ledger.owner_of(page(VM1, 5)), Some(VM2));
    assert_eq!(ledger.owner_of(page(VM1, 7)), Some(VM1));
    assert_eq!(space.mappers(page(VM1, 6)), vec![VM2]);
    assert_eq!(
        ledger.reclaim(VM1, handle, RECLAIM, &mut space).err(),
        Some(FfaError::InvalidParameters)
    );
    // The new owner can send it on; the old owner cannot.
    assert_eq!(
        send(&mut ledger, &mut space, Share, VM1, &[SP1], &[range(page(VM1, 5), 1)]).err(),
        Some(FfaError::Denied)
    );
    send(&mut ledger, &mut space, Share, VM2, &[SP1], &[range(page(VM1, 5), 2)]).unwrap();
}

#[test]
fn stale_handles_never_name_a_new_transaction() {
    let (mut ledger, mut space) = fixture();
    let first =
        send(&mut ledger, &mut space, Share, VM1, &[SP1], &[range(page(VM1, 0), 1)]).unwrap();
    ledger.reclaim(VM1, first, RECLAIM, &mut space).unwrap();
    let second =
        send(&mut ledger, &mut space, Share, VM1, &[SP1], &[range(page(VM1, 0), 1)]).unwrap();
    assert_eq!(first.0 as u32, second.0 as u32, "same slot reused");
    assert_ne!(first, second);
    assert_eq!(ledger.hypervisor_retrieve(first).err(), Some(FfaError::InvalidParameters));
    assert_eq!(
        ledger.reclaim(VM1, first, RECLAIM, &mut space).err(),
        Some(FfaError::InvalidParameters)
    );
}

#[test]
fn hypervisor_allocator_sets_bit_63_and_refuses_spmc_handles() {
    let pools: &'static mut Pools<4, 4, 8, 4> = Box::leak(Box::new(Pools::new()));
    let mut ledger = Ledger::new(pools.storage(), HandleAllocator::Hypervisor);
    ledger.add_region(VM1, 0x1000, 4, MemoryKind::Normal { secure: false }).unwrap();
    let access = receivers(Share, DataAccess::ReadWrite, &[VM2]);
    let handle = ledger
        .send(&request(VM1, Share, &access, 1), &[range(0x1000, 1)], &mut NullAddressSpace)
        .unwrap();
    assert_eq!(handle.allocator(), HandleAllocator::Hypervisor);
    let spmc = MemoryHandle(handle.0 & !MemoryHandle::ALLOCATOR_BIT);
    assert_eq!(ledger.hypervisor_retrieve(spmc).err(), Some(FfaError::InvalidParameters));
}

#[test]
fn exhausted_pools_are_no_memory_and_change_nothing() {
    let pools: &'static mut Pools<8, 2, 4, 3> = Box::leak(Box::new(Pools::new()));
    let mut ledger = Ledger::new(pools.storage(), HandleAllocator::Spmc);
    let mut space = FakeSpace::default();
    ledger.add_region(VM1, page(VM1, 0), 64, MemoryKind::Normal { secure: false }).unwrap();
    let five: Vec<_> = (0..5).map(|n| range(page(VM1, 2 * n), 1)).collect();
    assert_refused(&mut ledger, &mut space, FfaError::NoMemory, |ledger, space| {
        send(ledger, space, Share, VM1, &[SP1], &five)
    });
    assert_refused(&mut ledger, &mut space, FfaError::NoMemory, |ledger, space| {
        send(ledger, space, Share, VM1, &[SP1, SP2, VM2, EndpointId(3)], &five[..1])
    });
    send(&mut ledger, &mut space, Share, VM1, &[SP1], &five[..1]).unwrap();
    send(&mut ledger, &mut space, Share, VM1, &[SP1], &five[1..2]).unwrap();
    assert_refused(&mut ledger, &mut space, FfaError::NoMemory, |ledger, space| {
        send(ledger, space, Share, VM1, &[SP1], &five[2..3])
    });
}

/// One step of a transaction's life, run on a live handle.
type Step = dyn FnMut(&mut Ledger<'static>, &mut FakeSpace, MemoryHandle) -> Result<(), FfaError>;

#[test]
fn a_failing_address_space_step_is_undone_at_every_position() {
    // Lend of 3 ranges (3 unmaps), retrieve (3 maps), relinquish (3 unmaps), reclaim (3 maps).
    for fail_at in 1..=12 {
        let (mut ledger, mut space) = fixture();
        let ranges = [range(page(VM1, 0), 1), range(page(VM1, 2), 2), range(page(VM1, 8), 1)];
        space.fail_at = Some(fail_at);
        let mut steps: Vec<Box<Step>> = vec![
            Box::new(|ledger, space, handle| {
                retrieve(ledger, space, SP1, handle, VM1, Lend, &[SP1]).map(|_| ())
            }),
            Box::new(|ledger, space, handle| ledger.relinquish(SP1, handle, NONE, space)),
            Box::new(|ledger, space, handle| ledger.reclaim(VM1, handle, RECLAIM, space)),
        ];
        let before = (snapshot(&ledger), space.state());
        let handle = match send(&mut ledger, &mut space, Lend, VM1, &[SP1], &ranges) {
            Ok(handle) => handle,
            Err(error) => {
                assert_eq!(error, FfaError::NoMemory);
                assert_eq!((snapshot(&ledger), space.state()), before);
                continue;
            }
        };
        for step in steps.iter_mut() {
            let before = (snapshot(&ledger), space.state());
            if let Err(error) = step(&mut ledger, &mut space, handle) {
                assert_eq!(error, FfaError::NoMemory);
                assert_eq!((snapshot(&ledger), space.state()), before, "fail at {fail_at}");
                break;
            }
        }
        assert!(space.calls >= fail_at.min(12));
    }
}

#[test]
fn four_thousand_live_transactions() {
    const LIVE: usize = 4096;
    let mut regions = vec![Region::EMPTY; 8];
    let mut transactions = vec![TransactionSlot::EMPTY; LIVE];
    let mut ranges = vec![RangeSlot::EMPTY; LIVE];
    let mut index = vec![IndexEntry::EMPTY; LIVE];
    let mut scratch = vec![IndexEntry::EMPTY; 16];
    let mut receiver_slots = vec![ReceiverSlot::EMPTY; LIVE];
    let mut ledger = Ledger::new(
        LedgerStorage {
            regions: &mut regions,
            transactions: &mut transactions,
            ranges: &mut ranges,
            index: &mut index,
            scratch: &mut scratch,
            receivers: &mut receiver_slots,
        },
        HandleAllocator::Spmc,
    );
    ledger
        .add_region(VM1, 0x1000_0000, LIVE as u32 + 1, MemoryKind::Normal { secure: false })
        .unwrap();
    let access = receivers(Lend, DataAccess::ReadWrite, &[SP1]);
    let mut handles = Vec::new();
    // Interleaved addresses so the index is merged, not just appended.
    for n in (0..LIVE as u64).map(|n| (n * 2654435761) % LIVE as u64) {
        let handle = ledger
            .send(
                &request(VM1, Lend, &access, 1),
                &[range(0x1000_0000 + n * 4096, 1)],
                &mut NullAddressSpace,
            )
            .unwrap();
        handles.push(handle);
    }
    assert_eq!(ledger.handles().count(), LIVE);
    assert_eq!(
        ledger
            .send(
                &request(VM1, Lend, &access, 1),
                &[range(0x1000_0000 + LIVE as u64 * 4096, 1)],
                &mut NullAddressSpace
            )
            .err(),
        Some(FfaError::NoMemory)
    );
    for handle in handles {
        ledger.reclaim(VM1, handle, RECLAIM, &mut NullAddressSpace).unwrap();
    }
    assert_eq!(ledger.capacity().transactions, LIVE);
}

#[test]
fn one_transaction_of_262144_scattered_pages() {
    const PAGES: usize = 262_144;
    let mut regions = vec![Region::EMPTY; 4];
    let mut transactions = vec![TransactionSlot::EMPTY; 2];
    let mut ranges = vec![RangeSlot::EMPTY; PAGES + 1];
    let mut index = vec![IndexEntry::EMPTY; PAGES + 1];
    let mut scratch = vec![IndexEntry::EMPTY; PAGES];
    let mut receiver_slots = vec![ReceiverSlot::EMPTY; 2];
    let mut ledger = Ledger::new(
        LedgerStorage {
            regions: &mut regions,
            transactions: &mut transactions,
            ranges: &mut ranges,
            index: &mut index,
            scratch: &mut scratch,
            receivers: &mut receiver_slots,
        },
        HandleAllocator::Spmc,
    );
    ledger
        .add_region(VM1, 0x1_0000_0000, 2 * PAGES as u32, MemoryKind::Normal { secure: false })
        .unwrap();
    // Every other page, in descending order, so the sort has work to do.
    let scattered: Vec<_> =
        (0..PAGES as u64).rev().map(|n| range(0x1_0000_0000 + 2 * n * 4096, 1)).collect();
    let access = receivers(Share, DataAccess::ReadWrite, &[SP1]);
    let handle = ledger
        .send(&request(VM1, Share, &access, PAGES as u64), &scattered, &mut NullAddressSpace)
        .unwrap();
    assert_eq!(ledger.hypervisor_retrieve(handle).unwrap().range_count, PAGES as u32);
    // A page between two of them is still free to send; one of them is not.
    let gap = [range(0x1_0000_0000 + 4096, 1)];
    let other = ledger.send(&request(VM1, Share, &access, 1), &gap, &mut NullAddressSpace).unwrap();
    let taken = [range(0x1_0000_0000 + 2 * 4096, 1)];
    assert_eq!(
        ledger.send(&request(VM1, Share, &access, 1), &taken, &mut NullAddressSpace).err(),
        Some(FfaError::NoMemory),
        "the range pool is full"
    );
    ledger.reclaim(VM1, other, RECLAIM, &mut NullAddressSpace).unwrap();
    assert_eq!(
        ledger.send(&request(VM1, Share, &access, 1), &taken, &mut NullAddressSpace).err(),
        Some(FfaError::Denied)
    );
}
