// SPDX-License-Identifier: MIT OR Apache-2.0 OR GPL-2.0-only
/*
 * ffa_cross: the two-guest run's isolation check (ffa-rs, `cargo xtask linux`).
 *
 * Loaded last in the second Linux guest (VM 2) with the handle of a memory region the first
 * guest (VM 1) has shared and still holds, and VM 1's FF-A ID. It tries, with raw FF-A calls
 * through HVC, to take that memory:
 *
 *   1. FFA_MEM_RECLAIM of the handle (only the owner may reclaim);
 *   2. FFA_MEM_RETRIEVE_REQ of the handle, naming VM 1 as the sender and itself as the
 *      receiver (VM 2 is no receiver of the transaction).
 *
 * Both must answer FFA_ERROR. A retrieve needs its descriptor in the caller's TX buffer, which
 * the kernel's arm_ffa driver owns; the module runs last in its guest, so it unmaps the VM's
 * buffers (FFA_RXTX_UNMAP) and maps two pages of its own.
 *
 * It prints one line per step, "ffa_cross: PASS ..." or "ffa_cross: FAIL ...", then
 * "ffa_cross: done, N failures". Parameters: victim=<handle>, owner=<VM 1's ID>.
 *
 * The project's licence (MIT OR Apache-2.0), offered under GPL-2.0 too so that the kernel
 * loads it as a "Dual MIT/GPL" module.
 */

#include <linux/arm-smccc.h>
#include <linux/gfp.h>
#include <linux/io.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/string.h>

static unsigned long victim;
module_param(victim, ulong, 0444);
MODULE_PARM_DESC(victim, "handle of the other guest's shared memory");

static ushort owner;
module_param(owner, ushort, 0444);
MODULE_PARM_DESC(owner, "FF-A ID of the VM that shared it");

#define FFA_ERROR 0x84000060UL
#define FFA_SUCCESS_32 0x84000061UL
#define FFA_RXTX_UNMAP 0x84000067UL
#define FFA_ID_GET 0x84000069UL
#define FFA_RXTX_MAP_64 0xC4000066UL
#define FFA_MEM_RETRIEVE_REQ_32 0x84000074UL
#define FFA_MEM_RETRIEVE_RESP 0x84000075UL
#define FFA_MEM_RECLAIM 0x84000077UL
#define FFA_RX_RELEASE 0x84000065UL

/* Memory transaction descriptor flags: transaction type SHARE in bits [4:3]. */
#define TRANSACTION_SHARE (1U << 3)
/* Memory region attributes: Normal memory, write-back, inner shareable. */
#define ATTRIBUTES_NORMAL_WRITE_BACK_INNER 0x2F
/* Access permissions: read-write data, instruction access not specified. */
#define PERMISSIONS_READ_WRITE 0x2

/* FF-A v1.1 memory transaction descriptor header (48 bytes). */
struct transaction_header {
	u16 sender;
	u16 attributes;
	u32 flags;
	u64 handle;
	u64 tag;
	u32 access_descriptor_size;
	u32 access_descriptor_count;
	u32 access_descriptor_offset;
	u8 reserved[12];
} __packed;

/* Endpoint memory access descriptor (16 bytes). */
struct access_descriptor {
	u16 receiver;
	u8 permissions;
	u8 flags;
	u32 composite_offset;
	u64 reserved;
} __packed;

struct retrieve_request {
	struct transaction_header header;
	struct access_descriptor receiver;
} __packed;

static int failures;

static struct arm_smccc_1_2_regs ffa(unsigned long function, unsigned long a1, unsigned long a2,
				     unsigned long a3, unsigned long a4)
{
	struct arm_smccc_1_2_regs call = {
		.a0 = function, .a1 = a1, .a2 = a2, .a3 = a3, .a4 = a4,
	};
	struct arm_smccc_1_2_regs answer;

	arm_smccc_1_2_hvc(&call, &answer);
	return answer;
}

static const char *error_name(long code)
{
	switch (code) {
	case -1: return "NOT_SUPPORTED";
	case -2: return "INVALID_PARAMETERS";
	case -3: return "NO_MEMORY";
	case -4: return "BUSY";
	case -5: return "INTERRUPTED";
	case -6: return "DENIED";
	case -7: return "RETRY";
	case -8: return "ABORTED";
	case -9: return "NO_DATA";
	default: return "unknown";
	}
}

/* One attempt that must be refused: reports it and counts a failure if it was not. */
static void expect_refused(const char *what, struct arm_smccc_1_2_regs answer, u16 self)
{
	long code = (long)(s32)(u32)answer.a2;

	if (answer.a0 == FFA_ERROR) {
		pr_info("ffa_cross: PASS VM 0x%x %s of VM 0x%x's handle 0x%lx refused: FFA_ERROR %ld (%s)\n",
			self, what, owner, victim, code, error_name(code));
	} else {
		failures++;
		pr_info("ffa_cross: FAIL VM 0x%x %s of VM 0x%x's handle 0x%lx answered 0x%lx (w2 0x%lx)\n",
			self, what, owner, victim, answer.a0, answer.a2);
	}
}

static int __init ffa_cross_init(void)
{
	struct arm_smccc_1_2_regs answer;
	struct retrieve_request *request;
	unsigned long transmit, receive;
	u16 self;

	answer = ffa(FFA_ID_GET, 0, 0, 0, 0);
	if (answer.a0 != FFA_SUCCESS_32 || victim == 0) {
		pr_info("ffa_cross: FAIL no FF-A ID (0x%lx) or no victim handle (0x%lx)\n",
			answer.a0, victim);
		return 0;
	}
	self = answer.a2 & 0xFFFF;
	pr_info("ffa_cross: VM 0x%x tries VM 0x%x's live handle 0x%lx\n", self, owner, victim);

	/* 1. Reclaim: only the owner may. */
	answer = ffa(FFA_MEM_RECLAIM, victim & 0xFFFFFFFF, victim >> 32, 0, 0);
	expect_refused("FFA_MEM_RECLAIM", answer, self);

	/* 2. Retrieve: the descriptor goes in a TX buffer of the module's own. */
	transmit = __get_free_page(GFP_KERNEL | __GFP_ZERO);
	receive = __get_free_page(GFP_KERNEL | __GFP_ZERO);
	if (!transmit || !receive) {
		failures++;
		pr_info("ffa_cross: FAIL no pages for RX/TX buffers\n");
		goto done;
	}
	answer = ffa(FFA_RXTX_UNMAP, 0, 0, 0, 0);
	pr_info("ffa_cross: FFA_RXTX_UNMAP of the driver's buffers: 0x%lx\n", answer.a0);
	answer = ffa(FFA_RXTX_MAP_64, virt_to_phys((void *)transmit),
		     virt_to_phys((void *)receive), 1, 0);
	if (answer.a0 != FFA_SUCCESS_32) {
		failures++;
		pr_info("ffa_cross: FAIL FFA_RXTX_MAP of the module's buffers: 0x%lx error %d\n",
			answer.a0, (s32)(u32)answer.a2);
		goto done;
	}
	request = (struct retrieve_request *)transmit;
	request->header.sender = owner;
	request->header.attributes = ATTRIBUTES_NORMAL_WRITE_BACK_INNER;
	request->header.flags = TRANSACTION_SHARE;
	request->header.handle = victim;
	request->header.tag = 0;
	request->header.access_descriptor_size = sizeof(struct access_descriptor);
	request->header.access_descriptor_count = 1;
	request->header.access_descriptor_offset = sizeof(struct transaction_header);
	request->receiver.receiver = self;
	request->receiver.permissions = PERMISSIONS_READ_WRITE;
	answer = ffa(FFA_MEM_RETRIEVE_REQ_32, sizeof(*request), sizeof(*request), 0, 0);
	expect_refused("FFA_MEM_RETRIEVE_REQ", answer, self);
	if (answer.a0 == FFA_MEM_RETRIEVE_RESP)
		ffa(FFA_RX_RELEASE, 0, 0, 0, 0);

done:
	pr_info("ffa_cross: done, %d failures\n", failures);
	return 0;
}

module_init(ffa_cross_init);
MODULE_LICENSE("Dual MIT/GPL");
MODULE_DESCRIPTION("ffa-rs: one guest tries to reclaim and retrieve another guest's memory");
