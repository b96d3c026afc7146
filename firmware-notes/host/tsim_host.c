/*
 * The tsim core as a board on the host, behind a pseudo-terminal.
 *
 *   tsim_host [--state FILE] [--provisioning] [--board-id ID] [--boot-ms N]
 *
 * Prints the path of the pseudo-terminal on the first line of standard output, then serves the
 * board protocol on it until SIGINT or SIGTERM, or until its parent exits. Like an Uno, it "resets"
 * whenever a program opens the port: it reloads the stored image, waits --boot-ms (the bootloader;
 * bytes sent meanwhile are lost) and sends READY. --state keeps the image (the EEPROM) in a file;
 * --provisioning is the jumper held at boot.
 */
#define _XOPEN_SOURCE 600

#include "tsim.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stopping = 0;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

typedef struct {
    const char *path;
    uint8_t image[TSIM_IMAGE_SIZE];
    int have_image;
} storage;

static int save_image(void *user, const uint8_t *image, size_t len)
{
    storage *store = (storage *)user;
    FILE *file;
    char temp[4096];
    memcpy(store->image, image, len);
    store->have_image = 1;
    if (store->path == NULL) {
        return 0;
    }
    /* Write a new file and rename it, so a crash never leaves half an image. */
    if ((size_t)snprintf(temp, sizeof temp, "%s.tmp", store->path) >= sizeof temp) {
        return -1;
    }
    file = fopen(temp, "wb");
    if (file == NULL) {
        return -1;
    }
    if (fwrite(image, 1, len, file) != len || fclose(file) != 0) {
        remove(temp);
        return -1;
    }
    return rename(temp, store->path) == 0 ? 0 : -1;
}

static void load_image(storage *store)
{
    FILE *file;
    if (store->path == NULL) {
        return;
    }
    file = fopen(store->path, "rb");
    if (file == NULL) {
        return;
    }
    store->have_image = fread(store->image, 1, sizeof store->image, file) == sizeof store->image;
    fclose(file);
}

static void sleep_ms(long ms)
{
    struct timespec t;
    t.tv_sec = ms / 1000;
    t.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&t, &t) != 0 && errno == EINTR && !stopping) {
    }
}

static int write_all(int fd, const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                sleep_ms(1);
                continue;
            }
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static void make_raw(int fd)
{
    /* The line discipline would echo and rewrite bytes; frames are binary. */
    struct termios t;
    if (tcgetattr(fd, &t) != 0) {
        return;
    }
    t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    t.c_oflag &= ~(tcflag_t)OPOST;
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
    t.c_cflag |= CS8;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    tcsetattr(fd, TCSANOW, &t);
}

int main(int argc, char **argv)
{
    static storage store;
    static tsim_device dev;
    tsim_config config;
    int provisioning = 0, master, slave, connected = 0, i;
    long boot_ms = 50;
    const char *board_id = "tsim-host";
    char *name;
    pid_t parent = getppid();
    struct sigaction action;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--state") == 0 && i + 1 < argc) {
            store.path = argv[++i];
        } else if (strcmp(argv[i], "--provisioning") == 0) {
            provisioning = 1;
        } else if (strcmp(argv[i], "--board-id") == 0 && i + 1 < argc) {
            board_id = argv[++i];
        } else if (strcmp(argv[i], "--boot-ms") == 0 && i + 1 < argc) {
            boot_ms = strtol(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: tsim_host [--state FILE] [--provisioning] [--board-id ID] [--boot-ms N]\n");
            return 2;
        }
    }
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);

    config.firmware[0] = 1;
    config.firmware[1] = 0;
    config.firmware[2] = 0;
    config.capabilities = (uint16_t)(TSIM_CORE_CAPABILITIES | (store.path != NULL ? TSIM_CAP_PERSISTENT : 0u));
    config.board_id = board_id;
    config.save = save_image;
    config.user = &store;
    load_image(&store);

    master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0 || (name = ptsname(master)) == NULL) {
        perror("tsim_host: pseudo-terminal");
        return 1;
    }
    /* Open and close the slave once: from then on the master sees POLLHUP until a program opens the
     * port, which is how an open (the Uno's auto-reset) is noticed. */
    slave = open(name, O_RDWR | O_NOCTTY);
    if (slave < 0) {
        perror("tsim_host: slave");
        return 1;
    }
    make_raw(slave);
    close(slave);
    printf("%s\n", name);
    fflush(stdout);

    while (!stopping && getppid() == parent) {
        struct pollfd fd;
        uint8_t input[256], reply[TSIM_MAX_FRAME];
        ssize_t n;
        fd.fd = master;
        fd.events = POLLIN;
        fd.revents = 0;
        if (poll(&fd, 1, 100) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        if (fd.revents & POLLHUP) {
            connected = 0;
            sleep_ms(10);
            continue;
        }
        if (!connected) {
            /* Opened: reset like an Uno, lose what arrives during the boot, then say READY. */
            connected = 1;
            tsim_device_init(&dev, &config, store.have_image ? store.image : NULL, sizeof store.image, provisioning);
            sleep_ms(boot_ms);
            while (poll(&fd, 1, 0) > 0 && (fd.revents & POLLIN) && read(master, input, sizeof input) > 0) {
            }
            n = (ssize_t)tsim_device_ready(&dev, reply, sizeof reply);
            if (write_all(master, reply, (size_t)n) != 0) {
                connected = 0;
            }
            continue;
        }
        if (!(fd.revents & POLLIN)) {
            continue;
        }
        n = read(master, input, sizeof input);
        if (n <= 0) {
            connected = 0;
            continue;
        }
        for (i = 0; i < n; i++) {
            size_t len = tsim_device_feed(&dev, input[i], reply, sizeof reply);
            if (len > 0 && write_all(master, reply, len) != 0) {
                connected = 0;
                break;
            }
        }
    }
    close(master);
    return 0;
}
