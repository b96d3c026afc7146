/*
 * The Uno sketch on a simulated ATmega328P (libsimavr), behind a pseudo-terminal.
 *
 *   tsim_simavr ELF [--eeprom FILE] [--provisioning] [--full-speed] [--stack-file FILE] [--trace-cycles]
 *
 * Runs the ELF at 16 MHz with UART0 on a pseudo-terminal and prints the terminal's path on the first
 * line of standard output. Like an Uno's auto-reset, a program opening the port resets the chip
 * (50 ms after the open, once the opener has set the line up); what the chip sent before is dropped.
 * The chip first starts at the first open, so nobody reads a READY it sent to a closed port.
 *
 *   --eeprom FILE      the chip's 1 KB EEPROM, loaded at start and written back (whole, by a rename)
 *                      whenever the firmware changed it; erased (0xFF) when the file does not exist
 *   --provisioning     the provisioning jumper: pin 7 (PD7) held to GND; otherwise PD7 is driven high,
 *                      as the sketch's pull-up would hold it
 *   --full-speed       run as fast as the host can; by default simulated time is held to wall time
 *   --stack-file FILE  on exit, write the deepest stack seen (bytes below RAMEND) to FILE
 *   --trace-cycles     on standard error, one line per reply: the cycles from a request's final byte
 *                      (the 0x00 delimiter) reaching UART0 to the reply's first byte leaving it
 *
 * Stops on SIGINT or SIGTERM, or when its parent exits; then prints the lowest stack pointer seen.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "avr_eeprom.h"
#include "avr_ioport.h"
#include "avr_uart.h"
#include "sim_avr.h"
#include "sim_core.h"
#include "sim_elf.h"
#include "uart_pty.h"

#define FREQUENCY 16000000u
#define EEPROM_SIZE 1024
#define RAMEND 0x08FF
#define PROVISION_PORT 'D'
#define PROVISION_BIT 7
#define RESET_DELAY_NS 50000000LL   /* from an open of the port to the reset */
#define CHECK_EVERY 4096u           /* cycles between looks at the port, the clock and the EEPROM */

static volatile sig_atomic_t stopping = 0;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static avr_t *avr;
static int trace_cycles = 0;
static int request_pending = 0;
static avr_cycle_count_t request_cycle = 0;

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void on_byte_in(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    if (value == 0 && !request_pending) {
        request_pending = 1;
        request_cycle = avr->cycle;
    }
}

static void on_byte_out(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)value;
    (void)param;
    if (request_pending) {
        request_pending = 0;
        if (trace_cycles) {
            fprintf(stderr, "reply after %llu cycles\n", (unsigned long long)(avr->cycle - request_cycle));
        }
    }
}

static void drive_jumper(int provisioning)
{
    avr_irq_t *pin = avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ(PROVISION_PORT), PROVISION_BIT);
    avr_ioport_external_t external;
    uint32_t level = provisioning ? 0u : 1u;
    /* An external level on the pin: it wins over the internal pull-up the sketch turns on, which
     * simavr would otherwise read as high. */
    external.name = PROVISION_PORT;
    external.mask = 1u << PROVISION_BIT;
    external.value = level << PROVISION_BIT;
    avr_ioctl(avr, AVR_IOCTL_IOPORT_SET_EXTERNAL(PROVISION_PORT), &external);
    /* Raised twice: an irq ignores a value it already holds, and a reset may have cleared the pin. */
    avr_raise_irq(pin, level ^ 1u);
    avr_raise_irq(pin, level);
}

static void eeprom_get(uint8_t *data)
{
    avr_eeprom_desc_t desc;
    desc.ee = data;
    desc.offset = 0;
    desc.size = EEPROM_SIZE;
    avr_ioctl(avr, AVR_IOCTL_EEPROM_GET, &desc);
    /* Some versions hand back a pointer to their own copy instead of filling ours. */
    if (desc.ee != data) {
        memcpy(data, desc.ee, EEPROM_SIZE);
    }
}

static int eeprom_save(const char *path, const uint8_t *data)
{
    char temp[4096];
    FILE *file;
    if ((size_t)snprintf(temp, sizeof temp, "%s.tmp", path) >= sizeof temp) {
        return -1;
    }
    file = fopen(temp, "wb");
    if (file == NULL) {
        return -1;
    }
    if (fwrite(data, 1, EEPROM_SIZE, file) != EEPROM_SIZE || fclose(file) != 0) {
        remove(temp);
        return -1;
    }
    return rename(temp, path);
}

static void usage(void)
{
    fprintf(stderr, "usage: tsim_simavr ELF [--eeprom FILE] [--provisioning] [--full-speed] "
                    "[--stack-file FILE] [--trace-cycles]\n");
}

int main(int argc, char **argv)
{
    static uint8_t eeprom[EEPROM_SIZE], saved[EEPROM_SIZE];
    static uart_pty_t pty;
    static elf_firmware_t firmware;
    const char *elf = NULL, *eeprom_path = NULL, *stack_path = NULL;
    int provisioning = 0, full_speed = 0, i, watch, slave, quiet, out;
    unsigned lowest_sp = RAMEND;
    long long start_ns, reset_at = -1;
    avr_cycle_count_t start_cycle, next_check;
    pid_t parent = getppid();
    struct sigaction action;
    char link[128], target[128];
    ssize_t n;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--eeprom") == 0 && i + 1 < argc) {
            eeprom_path = argv[++i];
        } else if (strcmp(argv[i], "--stack-file") == 0 && i + 1 < argc) {
            stack_path = argv[++i];
        } else if (strcmp(argv[i], "--provisioning") == 0) {
            provisioning = 1;
        } else if (strcmp(argv[i], "--full-speed") == 0) {
            full_speed = 1;
        } else if (strcmp(argv[i], "--trace-cycles") == 0) {
            trace_cycles = 1;
        } else if (argv[i][0] != '-' && elf == NULL) {
            elf = argv[i];
        } else {
            usage();
            return 2;
        }
    }
    if (elf == NULL) {
        usage();
        return 2;
    }
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);

    /* libsimavr chats on standard output; the first line there is ours, the port's path. */
    fflush(stdout);
    out = dup(STDOUT_FILENO);
    quiet = open("/dev/null", O_WRONLY);
    dup2(quiet, STDOUT_FILENO);
    if (elf_read_firmware(elf, &firmware) != 0) {
        fprintf(stderr, "tsim_simavr: cannot read %s\n", elf);
        return 1;
    }
    strcpy(firmware.mmcu, "atmega328p");
    firmware.frequency = FREQUENCY;
    avr = avr_make_mcu_by_name(firmware.mmcu);
    if (avr == NULL || avr_init(avr) != 0) {
        fprintf(stderr, "tsim_simavr: no atmega328p in this libsimavr\n");
        return 1;
    }
    avr_load_firmware(avr, &firmware);
    avr->frequency = FREQUENCY;

    memset(eeprom, 0xFF, sizeof eeprom);
    if (eeprom_path != NULL) {
        FILE *file = fopen(eeprom_path, "rb");
        if (file != NULL) {
            if (fread(eeprom, 1, sizeof eeprom, file) != sizeof eeprom) {
                fprintf(stderr, "tsim_simavr: %s is not a %d-byte EEPROM image\n", eeprom_path, EEPROM_SIZE);
                fclose(file);
                return 1;
            }
            fclose(file);
        }
        avr_eeprom_desc_t desc;
        desc.ee = eeprom;
        desc.offset = 0;
        desc.size = EEPROM_SIZE;
        avr_ioctl(avr, AVR_IOCTL_EEPROM_SET, &desc);
    }
    memcpy(saved, eeprom, sizeof saved);

    uart_pty_init(avr, &pty);
    uart_pty_connect(&pty, '0');
    fflush(stdout);
    dup2(out, STDOUT_FILENO);
    close(out);
    close(quiet);
    if (pty.port[0].s <= 0) {
        fprintf(stderr, "tsim_simavr: no pseudo-terminal\n");
        return 1;
    }
    /* It also made a fixed-name link in /tmp: remove it if it is ours (parallel runs would clash). */
    snprintf(link, sizeof link, "/tmp/simavr-uart0");
    n = readlink(link, target, sizeof target - 1);
    if (n > 0) {
        target[n] = '\0';
        if (strcmp(target, pty.port[0].slavename) == 0) {
            unlink(link);
        }
    }
    /* Our own handle on the port, opened before the watch: it drops what the chip sent nobody. */
    slave = open(pty.port[0].slavename, O_RDWR | O_NOCTTY | O_NONBLOCK);
    watch = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (slave < 0 || watch < 0 || inotify_add_watch(watch, pty.port[0].slavename, IN_OPEN) < 0) {
        fprintf(stderr, "tsim_simavr: cannot watch %s: %s\n", pty.port[0].slavename, strerror(errno));
        return 1;
    }
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT), on_byte_in, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT), on_byte_out, NULL);
    drive_jumper(provisioning);
    printf("%s\n", pty.port[0].slavename);
    fflush(stdout);

    /* Like an Uno on a USB port nobody has opened, the chip starts with the first open: what it would
     * send before that reaches no one, and the opener would read a stale READY. */
    while (!stopping && getppid() == parent && reset_at < 0) {
        struct pollfd fd;
        char events[4096];
        fd.fd = watch;
        fd.events = POLLIN;
        fd.revents = 0;
        if (poll(&fd, 1, 100) > 0 && read(watch, events, sizeof events) > 0) {
            reset_at = now_ns() + RESET_DELAY_NS;
        }
    }
    while (!stopping && now_ns() < reset_at) {
        struct timespec t = {0, 1000000L};
        nanosleep(&t, NULL);
    }
    start_ns = now_ns();
    start_cycle = avr->cycle;
    next_check = avr->cycle;
    while (!stopping) {
        unsigned sp;
        int state = avr_run(avr);
        if (state == cpu_Done || state == cpu_Crashed) {
            fprintf(stderr, "tsim_simavr: the chip stopped (%s)\n", state == cpu_Done ? "done" : "crashed");
            break;
        }
        sp = _avr_sp_get(avr);
        if (sp < lowest_sp && sp > 0x100) {
            lowest_sp = sp;
        }
        if (avr->cycle < next_check) {
            continue;
        }
        next_check = avr->cycle + CHECK_EVERY;
        if (getppid() != parent) {
            break;
        }
        {
            char events[4096];
            if (read(watch, events, sizeof events) > 0 && reset_at < 0) {
                reset_at = now_ns() + RESET_DELAY_NS;
            }
        }
        if (reset_at >= 0 && now_ns() >= reset_at) {
            /* The Uno's auto-reset: what the chip sent before is gone, the sketch starts again. */
            reset_at = -1;
            tcflush(slave, TCIFLUSH);
            avr_reset(avr);
            avr->frequency = FREQUENCY;
            drive_jumper(provisioning);
            request_pending = 0;
            start_ns = now_ns();
            start_cycle = avr->cycle;
        }
        if (eeprom_path != NULL) {
            eeprom_get(eeprom);
            if (memcmp(eeprom, saved, sizeof saved) != 0) {
                if (eeprom_save(eeprom_path, eeprom) != 0) {
                    fprintf(stderr, "tsim_simavr: cannot write %s: %s\n", eeprom_path, strerror(errno));
                } else {
                    memcpy(saved, eeprom, sizeof saved);
                }
            }
        }
        if (!full_speed) {
            /* Hold simulated time to wall time: 16 MHz, as on the board. */
            long long ahead = (long long)((avr->cycle - start_cycle) * 1000000000ULL / FREQUENCY) - (now_ns() - start_ns);
            if (ahead > 1000000LL) {
                struct timespec t;
                t.tv_sec = 0;
                t.tv_nsec = (long)ahead;
                nanosleep(&t, NULL);
            }
        }
    }
    if (eeprom_path != NULL) {
        eeprom_get(eeprom);
        if (memcmp(eeprom, saved, sizeof saved) != 0 && eeprom_save(eeprom_path, eeprom) != 0) {
            fprintf(stderr, "tsim_simavr: cannot write %s\n", eeprom_path);
        }
    }
    if (lowest_sp == RAMEND) {
        /* Never opened, so never run: no measurement, and no stack file that would pass for one. */
        fprintf(stderr, "the chip never ran: no stack measured\n");
        fflush(stderr);
        _exit(0);
    }
    fprintf(stderr, "lowest stack pointer 0x%04x: %u bytes of stack at most\n", lowest_sp, RAMEND - lowest_sp);
    if (stack_path != NULL) {
        FILE *file = fopen(stack_path, "w");
        if (file != NULL) {
            fprintf(file, "%u\n", RAMEND - lowest_sp);
            fclose(file);
        }
    }
    /* uart_pty_stop() can hang joining its thread: leave it to the exit. */
    fflush(stderr);
    _exit(0);
}
