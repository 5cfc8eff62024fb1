/*
 * tee-test: the Linux guest's userspace check of the TEE subsystem over FF-A.
 *
 * Opens /dev/tee0, asks the driver's version, allocates driver-owned shared memory and
 * registers a buffer of our own (the OP-TEE driver shares both with the secure world through
 * FFA_MEM_SHARE), writes through the allocated mapping, and closes everything (the driver then
 * tells the partition and reclaims the memory with FFA_MEM_RECLAIM). Each step prints one
 * `tee-test: PASS ...` or `tee-test: FAIL ...` line; the exit status is the number of failures.
 * Built static for arm64 by `cargo xtask linux`.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/tee.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

static int failures;

static void report(int ok, const char *what, const char *detail)
{
	printf("tee-test: %s %s%s%s\n", ok ? "PASS" : "FAIL", what, detail[0] ? ": " : "", detail);
	fflush(stdout);
	if (!ok)
		failures++;
}

static const char *error_text(void)
{
	return strerror(errno);
}

int main(void)
{
	char detail[160];
	const size_t page = 4096;

	int device = open("/dev/tee0", O_RDWR);
	if (device < 0) {
		report(0, "open /dev/tee0", error_text());
		printf("tee-test: done, 1 failure\n");
		return 1;
	}
	report(1, "open /dev/tee0", "");

	struct tee_ioctl_version_data version;
	memset(&version, 0, sizeof(version));
	if (ioctl(device, TEE_IOC_VERSION, &version) != 0) {
		report(0, "TEE_IOC_VERSION", error_text());
	} else {
		snprintf(detail, sizeof(detail), "impl_id %u impl_caps %#x gen_caps %#x",
			 version.impl_id, version.impl_caps, version.gen_caps);
		report(version.impl_id == TEE_IMPL_ID_OPTEE, "TEE_IOC_VERSION (OP-TEE)", detail);
		report((version.gen_caps & TEE_GEN_CAP_REG_MEM) != 0,
		       "TEE_IOC_VERSION offers memory registration", detail);
	}

	/* Memory the driver allocates and shares. */
	struct tee_ioctl_shm_alloc_data allocation;
	memset(&allocation, 0, sizeof(allocation));
	allocation.size = 2 * page;
	int allocated = ioctl(device, TEE_IOC_SHM_ALLOC, &allocation);
	if (allocated < 0) {
		report(0, "TEE_IOC_SHM_ALLOC of 2 pages", error_text());
	} else {
		snprintf(detail, sizeof(detail), "id %d, size %llu", allocation.id,
			 (unsigned long long)allocation.size);
		report(1, "TEE_IOC_SHM_ALLOC of 2 pages", detail);
		void *mapping = mmap(NULL, allocation.size, PROT_READ | PROT_WRITE, MAP_SHARED,
				     allocated, 0);
		if (mapping == MAP_FAILED) {
			report(0, "mmap of the allocated shared memory", error_text());
		} else {
			memset(mapping, 0x5a, allocation.size);
			int same = ((volatile uint8_t *)mapping)[allocation.size - 1] == 0x5a;
			report(same, "write and read back the allocated shared memory", "");
			munmap(mapping, allocation.size);
		}
	}

	/* Memory of our own, registered with the driver. */
	void *buffer = NULL;
	if (posix_memalign(&buffer, page, 3 * page) != 0) {
		report(0, "allocate a 3-page buffer", "");
	} else {
		memset(buffer, 0xa5, 3 * page);
		struct tee_ioctl_shm_register_data registration;
		memset(&registration, 0, sizeof(registration));
		registration.addr = (uintptr_t)buffer;
		registration.length = 3 * page;
		int registered = ioctl(device, TEE_IOC_SHM_REGISTER, &registration);
		if (registered < 0) {
			report(0, "TEE_IOC_SHM_REGISTER of 3 pages", error_text());
		} else {
			snprintf(detail, sizeof(detail), "id %d", registration.id);
			report(1, "TEE_IOC_SHM_REGISTER of 3 pages", detail);
			report(close(registered) == 0, "release the registered memory", "");
		}
		free(buffer);
	}

	if (allocated >= 0)
		report(close(allocated) == 0, "release the allocated memory", "");
	report(close(device) == 0, "close /dev/tee0", "");
	printf("tee-test: done, %d failure%s\n", failures, failures == 1 ? "" : "s");
	return failures;
}
