/*
 * The board: the tokensim board protocol (firmware-notes/wire-protocol.md) as a state machine.
 *
 * Bytes go in one at a time; whole replies come out in the caller's buffer. Nothing here knows
 * about UARTs, EEPROM or clocks: the sketch or the host build moves bytes and stores the image.
 */
#include "tsim.h"

#include <string.h>

#define IMAGE_MAGIC0 'T'
#define IMAGE_MAGIC1 'S'
#define IMAGE_VERSION 1
#define IMAGE_SUITE 3
#define IMAGE_SECRET_LEN 9
#define IMAGE_SECRET 10
#define IMAGE_COUNTER 50
#define IMAGE_CRC 58

/* Payload offsets, as in tokensim.protocol.wire. */
#define INFO_FLAGS_PROVISIONED 0x01u
#define INFO_FLAGS_LOCKED 0x02u
#define INFO_SIZE 17
#define PROVISION_COUNTER 6
#define PROVISION_SECRET_LEN 14
#define PROVISION_SECRET 15
#define RESPOND_PIN 2

#define KEY_OFF 0
#define KEY_PIN 1
#define KEY_CHALLENGE 2
#define KEY_SHOW 3

static void wipe(void *p, size_t n)
{
    /* volatile so the compiler cannot drop the wipe of a secret it thinks is dead */
    volatile uint8_t *v = (volatile uint8_t *)p;
    while (n-- > 0) {
        *v++ = 0;
    }
}

void tsim_device_image(const tsim_device *dev, uint8_t image[TSIM_IMAGE_SIZE])
{
    uint16_t crc;
    unsigned i;
    memset(image, 0, TSIM_IMAGE_SIZE);
    image[0] = IMAGE_MAGIC0;
    image[1] = IMAGE_MAGIC1;
    image[2] = IMAGE_VERSION;
    tsim_suite_encode(&dev->suite, image + IMAGE_SUITE);
    image[IMAGE_SECRET_LEN] = dev->secret_len;
    memcpy(image + IMAGE_SECRET, dev->secret, dev->secret_len);
    for (i = 0; i < 8; i++) {
        image[IMAGE_COUNTER + i] = (uint8_t)(dev->counter >> (56 - 8 * i));
    }
    crc = tsim_crc16(image, IMAGE_CRC);
    image[IMAGE_CRC] = (uint8_t)(crc >> 8);
    image[IMAGE_CRC + 1] = (uint8_t)crc;
}

static int load_image(tsim_device *dev, const uint8_t *image, size_t len)
{
    unsigned i;
    if (image == NULL || len < TSIM_IMAGE_SIZE || image[0] != IMAGE_MAGIC0 || image[1] != IMAGE_MAGIC1 ||
        image[2] != IMAGE_VERSION) {
        return 0;
    }
    if (tsim_crc16(image, IMAGE_CRC) != (uint16_t)(((uint16_t)image[IMAGE_CRC] << 8) | image[IMAGE_CRC + 1])) {
        return 0;
    }
    if (tsim_suite_decode(&dev->suite, image + IMAGE_SUITE) != TSIM_E_OK) {
        return 0;
    }
    if (image[IMAGE_SECRET_LEN] < TSIM_MIN_SECRET || image[IMAGE_SECRET_LEN] > TSIM_MAX_SECRET) {
        return 0;
    }
    dev->secret_len = image[IMAGE_SECRET_LEN];
    memcpy(dev->secret, image + IMAGE_SECRET, dev->secret_len);
    dev->counter = 0;
    for (i = 0; i < 8; i++) {
        dev->counter = (dev->counter << 8) | image[IMAGE_COUNTER + i];
    }
    return 1;
}

void tsim_device_init(tsim_device *dev, const tsim_config *config, const uint8_t *image, size_t image_len,
                      int provisioning_held)
{
    memset(dev, 0, sizeof *dev);
    dev->config = config;
    dev->provisioned = (uint8_t)load_image(dev, image, image_len);
    if (!dev->provisioned) {
        wipe(dev->secret, sizeof dev->secret);
        memset(&dev->suite, 0, sizeof dev->suite);
    }
    /* Provisioning needs a physical act (jumper or button at boot) once a secret is stored. */
    dev->mode = (provisioning_held || !dev->provisioned) ? TSIM_MODE_PROVISIONING : TSIM_MODE_OPERATIONAL;
}

static size_t reply(uint8_t seq, uint8_t type, const uint8_t *payload, size_t len, uint8_t *out, size_t cap)
{
    return tsim_frame_encode(seq, type, payload, len, out, cap);
}

/* message is a TSIM_TEXT constant (in flash on AVR). */
static size_t error_reply(uint8_t seq, uint8_t code, uint8_t request, const char *message, uint8_t *out,
                          size_t cap)
{
    uint8_t payload[TSIM_MAX_PAYLOAD];
    size_t len = tsim_text_len(message);
    if (len > TSIM_MAX_PAYLOAD - 2) {
        len = TSIM_MAX_PAYLOAD - 2;
    }
    payload[0] = code;
    payload[1] = request;
    tsim_text_copy(payload + 2, message, len);
    return reply(seq, TSIM_T_ERROR, payload, len + 2, out, cap);
}

static size_t info_reply(const tsim_device *dev, uint8_t seq, uint8_t *out, size_t cap)
{
    uint8_t payload[INFO_SIZE + TSIM_MAX_BOARD_ID];
    const char *id = dev->config->board_id != NULL ? dev->config->board_id : "";
    size_t id_len = strlen(id);
    if (id_len > TSIM_MAX_BOARD_ID) {
        id_len = TSIM_MAX_BOARD_ID;
    }
    memset(payload, 0, sizeof payload);
    payload[0] = TSIM_PROTOCOL_MAJOR;
    payload[1] = TSIM_PROTOCOL_MINOR;
    memcpy(payload + 2, dev->config->firmware, 3);
    payload[5] = dev->mode;
    payload[6] = (uint8_t)((dev->provisioned ? INFO_FLAGS_PROVISIONED : 0u) | (dev->locked ? INFO_FLAGS_LOCKED : 0u));
    payload[7] = (uint8_t)(dev->config->capabilities >> 8);
    payload[8] = (uint8_t)dev->config->capabilities;
    payload[9] = TSIM_MAX_FRAME;
    if (dev->provisioned) {
        tsim_suite_encode(&dev->suite, payload + 10);
    }
    payload[16] = (uint8_t)id_len;
    memcpy(payload + INFO_SIZE, id, id_len);
    return reply(seq, TSIM_T_INFO, payload, INFO_SIZE + id_len, out, cap);
}

static uint8_t save(tsim_device *dev)
{
    uint8_t image[TSIM_IMAGE_SIZE];
    int failed = 0;
    if (dev->config->save != NULL) {
        tsim_device_image(dev, image);
        failed = dev->config->save(dev->config->user, image, sizeof image);
        wipe(image, sizeof image);
    }
    return failed ? TSIM_E_STORAGE : TSIM_E_OK;
}

/* One response, from the serial line or the keypad: computed first, the counter advanced and stored
 * before the response leaves the board, so a power cut never hands out one counter value twice. */
static uint8_t compute(tsim_device *dev, const char *challenge, size_t challenge_len, const char *pin,
                       size_t pin_len, char response[11])
{
    uint8_t status;
    size_t i;
    if (!dev->provisioned) {
        return TSIM_E_NOT_PROVISIONED;
    }
    if (dev->locked) {
        return TSIM_E_LOCKED;
    }
    /* As on the card: the challenge has exactly the suite's length, the PIN exactly 4 digits; a
     * suite without a PIN ignores one. */
    if (challenge_len != dev->suite.qlength) {
        return TSIM_E_BAD_PAYLOAD;
    }
    if (dev->suite.pin_hash == TSIM_HASH_NONE) {
        pin_len = 0;
    } else {
        if (pin_len != TSIM_PIN_DIGITS) {
            return TSIM_E_BAD_PAYLOAD;
        }
        for (i = 0; i < pin_len; i++) {
            if (pin[i] < '0' || pin[i] > '9') {
                return TSIM_E_BAD_PAYLOAD;
            }
        }
    }
    status = tsim_ocra(&dev->suite, dev->secret, dev->secret_len, dev->counter, challenge, challenge_len, pin,
                       pin_len, response);
    if (status != TSIM_E_OK) {
        return status;
    }
    if (dev->suite.counter) {
        uint64_t used = dev->counter;
        dev->counter = used + 1u;
        if (save(dev) != TSIM_E_OK) {
            dev->counter = used;
            wipe(response, 11);
            return TSIM_E_STORAGE;
        }
    }
    return TSIM_E_OK;
}

static size_t handle_provision(tsim_device *dev, uint8_t seq, const uint8_t *payload, size_t len, uint8_t *out,
                               size_t cap)
{
    tsim_suite suite;
    uint8_t status, secret_len, result[2];
    unsigned i;
    if (dev->mode != TSIM_MODE_PROVISIONING) {
        return error_reply(seq, TSIM_E_WRONG_MODE, TSIM_T_PROVISION, TSIM_TEXT("hold the provisioning jumper at boot"),
                           out, cap);
    }
    if (len < PROVISION_SECRET) {
        return error_reply(seq, TSIM_E_BAD_PAYLOAD, TSIM_T_PROVISION, TSIM_TEXT("PROVISION too short"), out, cap);
    }
    status = tsim_suite_decode(&suite, payload);
    if (status != TSIM_E_OK) {
        return error_reply(seq, status, TSIM_T_PROVISION, TSIM_TEXT("suite"), out, cap);
    }
    if (suite.qlength > TSIM_MAX_CHALLENGE) {
        return error_reply(seq, TSIM_E_UNSUPPORTED_SUITE, TSIM_T_PROVISION,
                           TSIM_TEXT("challenge too long for a frame"), out, cap);
    }
    secret_len = payload[PROVISION_SECRET_LEN];
    if (secret_len < TSIM_MIN_SECRET || secret_len > TSIM_MAX_SECRET || len < (size_t)PROVISION_SECRET + secret_len) {
        return error_reply(seq, TSIM_E_BAD_PAYLOAD, TSIM_T_PROVISION, TSIM_TEXT("secret length"), out, cap);
    }
    dev->suite = suite;
    wipe(dev->secret, sizeof dev->secret);
    memcpy(dev->secret, payload + PROVISION_SECRET, secret_len);
    dev->secret_len = secret_len;
    dev->counter = 0;
    for (i = 0; i < 8; i++) {
        dev->counter = (dev->counter << 8) | payload[PROVISION_COUNTER + i];
    }
    dev->provisioned = 1;
    if (save(dev) != TSIM_E_OK) {
        return error_reply(seq, TSIM_E_STORAGE, TSIM_T_PROVISION, TSIM_TEXT("could not store the secret"), out, cap);
    }
    result[0] = TSIM_T_PROVISION;
    result[1] = 0;
    return reply(seq, TSIM_T_RESULT, result, sizeof result, out, cap);
}

static size_t handle_respond(tsim_device *dev, uint8_t seq, uint8_t type, const uint8_t *payload, size_t len,
                             uint8_t *out, size_t cap)
{
    uint8_t result[2 + 11];
    char response[11];
    size_t pin_len, challenge_len, i;
    uint8_t status;
    if (len < RESPOND_PIN) {
        return error_reply(seq, TSIM_E_BAD_PAYLOAD, type, TSIM_TEXT("too short"), out, cap);
    }
    pin_len = payload[0];
    challenge_len = payload[1];
    if (pin_len > TSIM_MAX_PIN || challenge_len < 4 || challenge_len > TSIM_MAX_CHALLENGE ||
        len < RESPOND_PIN + pin_len + challenge_len) {
        return error_reply(seq, TSIM_E_BAD_PAYLOAD, type, TSIM_TEXT("PIN or challenge length"), out, cap);
    }
    for (i = 0; i < pin_len + challenge_len; i++) {
        uint8_t c = payload[RESPOND_PIN + i];
        if (c < 0x21 || c > 0x7e) {
            return error_reply(seq, TSIM_E_BAD_PAYLOAD, type, TSIM_TEXT("not printable ASCII"), out, cap);
        }
    }
    if (type == TSIM_T_CHANGE_PIN && pin_len == 0) {
        return error_reply(seq, TSIM_E_BAD_PAYLOAD, type, TSIM_TEXT("CHANGE_PIN needs a new PIN"), out, cap);
    }
    if (dev->provisioned && !dev->locked && (dev->key_state == KEY_PIN || dev->key_state == KEY_CHALLENGE)) {
        return error_reply(seq, TSIM_E_BUSY, type, TSIM_TEXT("keypad in use"), out, cap);
    }
    status = compute(dev, (const char *)payload + RESPOND_PIN + pin_len, challenge_len,
                     (const char *)payload + RESPOND_PIN, pin_len, response);
    if (status != TSIM_E_OK) {
        return error_reply(seq, status, type,
                           status == TSIM_E_BAD_PAYLOAD ? TSIM_TEXT("challenge or PIN against the suite") : TSIM_TEXT(""),
                           out, cap);
    }
    result[0] = type;
    result[1] = dev->suite.digits;
    memcpy(result + 2, response, dev->suite.digits);
    wipe(response, sizeof response);
    len = reply(seq, TSIM_T_RESULT, result, 2u + dev->suite.digits, out, cap);
    wipe(result, sizeof result);
    return len;
}

static size_t handle(tsim_device *dev, const uint8_t *frame, size_t frame_len, uint8_t *out, size_t cap)
{
    uint8_t seq = frame[1], type = frame[2];
    const uint8_t *payload = frame + TSIM_HEADER_SIZE;
    size_t len = frame_len - TSIM_HEADER_SIZE;
    switch (type) {
    case TSIM_T_HELLO:
        if (len < 2) {
            return error_reply(seq, TSIM_E_BAD_PAYLOAD, type, TSIM_TEXT("HELLO too short"), out, cap);
        }
        if (payload[0] != TSIM_PROTOCOL_MAJOR) {
            return error_reply(seq, TSIM_E_VERSION_MISMATCH, type, TSIM_TEXT("board speaks protocol 1"), out, cap);
        }
        return info_reply(dev, seq, out, cap);
    case TSIM_T_INFO:
        return info_reply(dev, seq, out, cap);
    case TSIM_T_PROVISION:
        return handle_provision(dev, seq, payload, len, out, cap);
    case TSIM_T_RESPOND:
    case TSIM_T_CHANGE_PIN:
        return handle_respond(dev, seq, type, payload, len, out, cap);
    default:
        return error_reply(seq, TSIM_E_UNKNOWN_COMMAND, type, TSIM_TEXT("not a request"), out, cap);
    }
}

size_t tsim_device_ready(tsim_device *dev, uint8_t *out, size_t cap)
{
    uint8_t payload[3];
    payload[0] = TSIM_PROTOCOL_MAJOR;
    payload[1] = TSIM_PROTOCOL_MINOR;
    payload[2] = dev->mode;
    return reply(TSIM_UNSOLICITED_SEQ, TSIM_T_READY, payload, sizeof payload, out, cap);
}

size_t tsim_device_log(tsim_device *dev, uint8_t level, const char *text, uint8_t *out, size_t cap)
{
    uint8_t payload[TSIM_MAX_PAYLOAD];
    size_t len = strlen(text);
    (void)dev;
    if (len > TSIM_MAX_PAYLOAD - 1) {
        len = TSIM_MAX_PAYLOAD - 1;
    }
    payload[0] = level;
    memcpy(payload + 1, text, len);
    return reply(TSIM_UNSOLICITED_SEQ, TSIM_T_LOG, payload, len + 1, out, cap);
}

size_t tsim_device_feed(tsim_device *dev, uint8_t byte, uint8_t *out, size_t cap)
{
    uint8_t raw[TSIM_MAX_FRAME - 2];
    size_t len, body;
    if (byte != 0) {
        if (dev->rx_skipping) {
            return 0;
        }
        if (dev->rx_len >= sizeof dev->rx) {
            /* Oversized: drop it and everything up to the next delimiter. */
            dev->dropped++;
            dev->rx_len = 0;
            dev->rx_skipping = 1;
            return 0;
        }
        dev->rx[dev->rx_len++] = byte;
        return 0;
    }
    if (dev->rx_skipping) {
        dev->rx_skipping = 0;
        return 0;
    }
    if (dev->rx_len == 0) {
        return 0; /* an empty gap: the host resynchronising */
    }
    len = tsim_cobs_decode(dev->rx, dev->rx_len, raw, sizeof raw);
    dev->rx_len = 0;
    if (len == (size_t)-1 || len < TSIM_HEADER_SIZE + TSIM_CRC_SIZE) {
        dev->dropped++;
        return 0;
    }
    body = len - TSIM_CRC_SIZE;
    if (tsim_crc16(raw, body) != (uint16_t)(((uint16_t)raw[body] << 8) | raw[body + 1]) ||
        raw[3] != body - TSIM_HEADER_SIZE || raw[0] != TSIM_FRAME_VERSION) {
        dev->dropped++;
        return 0;
    }
    /* A retry (same sequence number, same bytes) gets the cached reply, never a second computation. */
    if (dev->cache_reply_len > 0 && dev->cache_request_len == body && memcmp(dev->cache_request, raw, body) == 0) {
        if (cap < dev->cache_reply_len) {
            return 0;
        }
        memcpy(out, dev->cache_reply, dev->cache_reply_len);
        return dev->cache_reply_len;
    }
    len = handle(dev, raw, body, out, cap);
    if (len > 0 && len <= sizeof dev->cache_reply) {
        memcpy(dev->cache_request, raw, body);
        dev->cache_request_len = (uint8_t)body;
        memcpy(dev->cache_reply, out, len);
        dev->cache_reply_len = (uint8_t)len;
    }
    wipe(raw, sizeof raw);
    return len;
}

/* Puts text on the screen; from_flash says it is a TSIM_TEXT constant rather than a RAM string. */
static void show_from(tsim_device *dev, const char *text, int from_flash)
{
    size_t len = from_flash ? tsim_text_len(text) : strlen(text);
    if (len >= TSIM_SCREEN_SIZE) {
        len = TSIM_SCREEN_SIZE - 1;
    }
    if (from_flash) {
        tsim_text_copy(dev->screen, text, len);
    } else {
        memcpy(dev->screen, text, len);
    }
    dev->screen[len] = '\0';
}

static void show(tsim_device *dev, const char *text) { show_from(dev, text, 0); }

static void show_text(tsim_device *dev, const char *text) { show_from(dev, text, 1); }

void tsim_device_key(tsim_device *dev, char key)
{
    char line[TSIM_SCREEN_SIZE];
    size_t i;
    char response[11];
    if (key == TSIM_KEY_PRESS) {
        wipe(dev->key_pin, sizeof dev->key_pin);
        dev->key_len = 0;
        if (!dev->provisioned) {
            dev->key_state = KEY_OFF;
            show_text(dev, TSIM_TEXT("NO SECRET"));
            return;
        }
        if (dev->suite.pin_hash == TSIM_HASH_NONE) {
            dev->key_state = KEY_CHALLENGE;
            show_text(dev, TSIM_TEXT("CHALLNG>"));
        } else {
            dev->key_state = KEY_PIN;
            show_text(dev, TSIM_TEXT("PIN>"));
        }
        return;
    }
    switch (dev->key_state) {
    case KEY_PIN:
        if (key >= '0' && key <= '9' && dev->key_len < TSIM_PIN_DIGITS) {
            dev->key_pin[dev->key_len++] = key;
        } else if (key == TSIM_KEY_BACK && dev->key_len > 0) {
            dev->key_len--;
        } else if (key == TSIM_KEY_OK && dev->key_len == TSIM_PIN_DIGITS) {
            dev->key_state = KEY_CHALLENGE;
            dev->key_len = 0;
            show_text(dev, TSIM_TEXT("CHALLNG>"));
            return;
        }
        /* Only the last digit typed is visible; the earlier ones show as dashes. */
        tsim_text_copy(line, TSIM_TEXT("PIN>"), 4);
        memset(line + 4, '-', dev->key_len);
        if (dev->key_len > 0) {
            line[4 + dev->key_len - 1] = dev->key_pin[dev->key_len - 1];
        }
        line[4 + dev->key_len] = '\0';
        show(dev, line);
        return;
    case KEY_CHALLENGE:
        if (key >= '0' && key <= '9' && dev->key_len < dev->suite.qlength) {
            dev->key_challenge[dev->key_len++] = key;
        } else if (key == TSIM_KEY_BACK && dev->key_len > 0) {
            dev->key_len--;
        } else if (key == TSIM_KEY_OK && dev->key_len == dev->suite.qlength) {
            uint8_t status = compute(dev, dev->key_challenge, dev->suite.qlength, dev->key_pin, TSIM_PIN_DIGITS,
                                     response);
            wipe(dev->key_pin, sizeof dev->key_pin);
            dev->key_state = KEY_SHOW;
            if (status == TSIM_E_OK) {
                show(dev, response);
            } else {
                show_text(dev, TSIM_TEXT("ERROR"));
            }
            wipe(response, sizeof response);
            return;
        }
        /* A 16-character line shows the last 8 digits typed after the prompt. */
        tsim_text_copy(line, TSIM_TEXT("CHALLNG>"), 8);
        i = dev->key_len > 8 ? dev->key_len - 8u : 0u;
        memcpy(line + 8, dev->key_challenge + i, dev->key_len - i);
        line[8 + dev->key_len - i] = '\0';
        show(dev, line);
        return;
    default:
        /* Any key clears a shown response. */
        dev->key_state = KEY_OFF;
        wipe(dev->screen, sizeof dev->screen);
        return;
    }
}
