/*
 * tsim: the portable core of the tokensim DSC+ reference firmware.
 *
 * C99, no I/O, no malloc, no clock: the caller owns every buffer and moves the bytes. The same
 * files build on the host (gcc, sanitizers), on an Uno/Nano (AVR, 16-bit int) and on an RP2040.
 *
 *   tsim_sha1.c    FIPS 180-4 SHA-1
 *   tsim_sha256.c  FIPS 180-4 SHA-256
 *   tsim_hmac.c    RFC 2104 HMAC over either hash
 *   tsim_ocra.c    RFC 6287 OCRA for suites OCRA-1:HOTP-SHA1|SHA256-d:[C-]QNxx[-PSHA1|PSHA256]
 *   tsim_frame.c   CRC-16/CCITT-FALSE, COBS, frames
 *   tsim_device.c  the board: protocol state machine, provisioning mode, reply cache, keypad
 *
 * The wire constants below are the values of tokensim.protocol.wire and tokensim.protocol.framing;
 * tests/firmware/test_header.py fails if the two ever disagree.
 */
#ifndef TSIM_H
#define TSIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- wire constants ---------------------------------------------------------------------------- */

#define TSIM_PROTOCOL_MAJOR 1
#define TSIM_PROTOCOL_MINOR 0
#define TSIM_FRAME_VERSION 1
#define TSIM_MAX_FRAME 64
#define TSIM_HEADER_SIZE 4
#define TSIM_CRC_SIZE 2
#define TSIM_MAX_PAYLOAD 56
#define TSIM_MIN_SECRET 16
#define TSIM_MAX_SECRET 40
#define TSIM_MAX_PIN 16
#define TSIM_MAX_CHALLENGE 38
#define TSIM_MAX_BOARD_ID 16
#define TSIM_SUITE_CODE_SIZE 6
#define TSIM_UNSOLICITED_SEQ 0
#define TSIM_PIN_DIGITS 4 /* a DSC+ PIN, as the emulated card takes it */

/* frame types */
#define TSIM_T_HELLO 0x01
#define TSIM_T_READY 0x02
#define TSIM_T_INFO 0x03
#define TSIM_T_PROVISION 0x04
#define TSIM_T_RESPOND 0x05
#define TSIM_T_CHANGE_PIN 0x06
#define TSIM_T_RESULT 0x07
#define TSIM_T_ERROR 0x08
#define TSIM_T_LOG 0x09

/* error codes */
#define TSIM_E_OK 0x00
#define TSIM_E_UNKNOWN_COMMAND 0x01
#define TSIM_E_BAD_PAYLOAD 0x02
#define TSIM_E_NOT_PROVISIONED 0x03
#define TSIM_E_WRONG_MODE 0x04
#define TSIM_E_LOCKED 0x05
#define TSIM_E_BUSY 0x06
#define TSIM_E_VERSION_MISMATCH 0x07
#define TSIM_E_UNSUPPORTED_SUITE 0x08
#define TSIM_E_STORAGE 0x09
#define TSIM_E_INTERNAL 0x0A

/* modes */
#define TSIM_MODE_PROVISIONING 0
#define TSIM_MODE_OPERATIONAL 1

/* capabilities */
#define TSIM_CAP_HMAC_SHA1 0x0001u
#define TSIM_CAP_HMAC_SHA256 0x0002u
#define TSIM_CAP_HMAC_SHA512 0x0004u
#define TSIM_CAP_COUNTER 0x0008u
#define TSIM_CAP_PIN_SHA1 0x0010u
#define TSIM_CAP_PIN_SHA256 0x0020u
#define TSIM_CAP_PIN_SHA512 0x0040u
#define TSIM_CAP_QUESTION_NUMERIC 0x0080u
#define TSIM_CAP_QUESTION_ALPHANUMERIC 0x0100u
#define TSIM_CAP_QUESTION_HEX 0x0200u
#define TSIM_CAP_KEYPAD 0x0400u
#define TSIM_CAP_DISPLAY 0x0800u
#define TSIM_CAP_PERSISTENT 0x1000u
#define TSIM_CAP_LOG 0x2000u

/* What this core computes; a board ORs in KEYPAD, DISPLAY and PERSISTENT as wired. */
#define TSIM_CORE_CAPABILITIES                                                                     \
    (TSIM_CAP_HMAC_SHA1 | TSIM_CAP_HMAC_SHA256 | TSIM_CAP_COUNTER | TSIM_CAP_PIN_SHA1 |            \
     TSIM_CAP_PIN_SHA256 | TSIM_CAP_QUESTION_NUMERIC | TSIM_CAP_LOG)

/* log levels */
#define TSIM_LOG_DEBUG 0
#define TSIM_LOG_INFO 1
#define TSIM_LOG_WARNING 2
#define TSIM_LOG_ERROR 3

/* hash ids, as in a suite code */
#define TSIM_HASH_NONE 0
#define TSIM_HASH_SHA1 1
#define TSIM_HASH_SHA256 2

/* ---- constant tables in flash on AVR ------------------------------------------------------------ */

/* The AVR copies every initialised constant to its 2 KB of RAM unless it is marked for flash:
 * TSIM_TEXT("...") is a string constant that stays in flash there, read with tsim_text_len and
 * tsim_text_copy; elsewhere they are a plain string, strlen and memcpy. */
#if defined(__AVR__)
#include <avr/pgmspace.h>
#define TSIM_PROGMEM PROGMEM
#define TSIM_READ_U32(table, i) pgm_read_dword(&(table)[i])
#define TSIM_TEXT(s) PSTR(s)
#define tsim_text_len(text) strlen_P(text)
#define tsim_text_copy(dest, text, len) memcpy_P((dest), (text), (len))
#else
#define TSIM_PROGMEM
#define TSIM_READ_U32(table, i) ((table)[i])
#define TSIM_TEXT(s) (s)
#define tsim_text_len(text) strlen(text)
#define tsim_text_copy(dest, text, len) memcpy((dest), (text), (len))
#endif

/* ---- hashes (FIPS 180-4) -------------------------------------------------------------------------- */

#define TSIM_SHA1_SIZE 20
#define TSIM_SHA256_SIZE 32
#define TSIM_BLOCK_SIZE 64
#define TSIM_MAX_DIGEST 32

typedef struct {
    uint32_t h[5];
    uint64_t length; /* bytes hashed so far */
    uint8_t block[TSIM_BLOCK_SIZE];
    uint8_t used;
} tsim_sha1_ctx;

typedef struct {
    uint32_t h[8];
    uint64_t length;
    uint8_t block[TSIM_BLOCK_SIZE];
    uint8_t used;
} tsim_sha256_ctx;

void tsim_sha1_init(tsim_sha1_ctx *ctx);
void tsim_sha1_update(tsim_sha1_ctx *ctx, const uint8_t *data, size_t len);
void tsim_sha1_final(tsim_sha1_ctx *ctx, uint8_t out[TSIM_SHA1_SIZE]);

void tsim_sha256_init(tsim_sha256_ctx *ctx);
void tsim_sha256_update(tsim_sha256_ctx *ctx, const uint8_t *data, size_t len);
void tsim_sha256_final(tsim_sha256_ctx *ctx, uint8_t out[TSIM_SHA256_SIZE]);

/* Either hash behind one interface. */
typedef struct {
    uint8_t alg; /* TSIM_HASH_SHA1 or TSIM_HASH_SHA256 */
    union {
        tsim_sha1_ctx sha1;
        tsim_sha256_ctx sha256;
    } u;
} tsim_hash_ctx;

/* Returns the digest size, or 0 for an unknown algorithm. */
size_t tsim_hash_size(uint8_t alg);
int tsim_hash_init(tsim_hash_ctx *ctx, uint8_t alg);
void tsim_hash_update(tsim_hash_ctx *ctx, const uint8_t *data, size_t len);
size_t tsim_hash_final(tsim_hash_ctx *ctx, uint8_t *out);

/* ---- HMAC (RFC 2104) ---------------------------------------------------------------------------- */

typedef struct {
    tsim_hash_ctx inner;
    uint8_t key[TSIM_BLOCK_SIZE]; /* the key, zero-padded to a block (hashed first if longer) */
} tsim_hmac_ctx;

int tsim_hmac_init(tsim_hmac_ctx *ctx, uint8_t alg, const uint8_t *key, size_t key_len);
void tsim_hmac_update(tsim_hmac_ctx *ctx, const uint8_t *data, size_t len);
/* Writes the MAC to out (tsim_hash_size(alg) bytes) and wipes the context; returns the size. */
size_t tsim_hmac_final(tsim_hmac_ctx *ctx, uint8_t *out);

/* ---- OCRA (RFC 6287) ------------------------------------------------------------------------------ */

typedef struct {
    uint8_t hash;     /* TSIM_HASH_SHA1 or TSIM_HASH_SHA256 */
    uint8_t digits;   /* 4 to 10 */
    uint8_t qformat;  /* 'N' */
    uint8_t qlength;  /* 4 to 64 */
    uint8_t pin_hash; /* TSIM_HASH_NONE, TSIM_HASH_SHA1 or TSIM_HASH_SHA256 */
    uint8_t counter;  /* 1 if C is an input */
} tsim_suite;

/* Reads a 6-byte suite code; returns TSIM_E_OK, TSIM_E_BAD_PAYLOAD or TSIM_E_UNSUPPORTED_SUITE. */
uint8_t tsim_suite_decode(tsim_suite *suite, const uint8_t code[TSIM_SUITE_CODE_SIZE]);
void tsim_suite_encode(const tsim_suite *suite, uint8_t code[TSIM_SUITE_CODE_SIZE]);
/* Writes the canonical suite text (no terminator); returns its length, 0 if cap is too small. */
size_t tsim_suite_text(const tsim_suite *suite, char *out, size_t cap);

/*
 * Computes the response: suite.digits ASCII digits and a terminating NUL in out (11 bytes is always
 * enough). pin may be NULL when pin_len is 0. Returns TSIM_E_OK or TSIM_E_BAD_PAYLOAD (challenge
 * not numeric or of the wrong length, PIN missing or present against the suite).
 */
uint8_t tsim_ocra(const tsim_suite *suite, const uint8_t *key, size_t key_len, uint64_t counter,
                  const char *challenge, size_t challenge_len, const char *pin, size_t pin_len,
                  char *out);

/* ---- frames -------------------------------------------------------------------------------------- */

uint16_t tsim_crc16(const uint8_t *data, size_t len);
/* COBS: returns the encoded length (no delimiter), or 0 if cap is too small. */
size_t tsim_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap);
/* Returns the decoded length, or (size_t)-1 for a malformed input or a too small cap. */
size_t tsim_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap);
/* Builds a whole encoded frame with its 0x00 delimiter; returns its length, 0 on error. */
size_t tsim_frame_encode(uint8_t seq, uint8_t type, const uint8_t *payload, size_t len, uint8_t *out,
                         size_t cap);

/* ---- the board ------------------------------------------------------------------------------------- */

/* The stored image of a board (EEPROM or flash): magic, suite, secret, counter, CRC-16. */
#define TSIM_IMAGE_SIZE 60

typedef struct {
    uint8_t firmware[3];  /* major, minor, patch */
    uint16_t capabilities; /* TSIM_CORE_CAPABILITIES | what the board has */
    const char *board_id;  /* up to TSIM_MAX_BOARD_ID printable ASCII characters */
    /* Writes the image to EEPROM or flash; returns 0 on success. */
    int (*save)(void *user, const uint8_t *image, size_t len);
    void *user;
} tsim_config;

/* Keys of the optional keypad. */
#define TSIM_KEY_PRESS 'P'
#define TSIM_KEY_OK 'K'
#define TSIM_KEY_BACK 'B'
#define TSIM_SCREEN_SIZE 17 /* 16 characters of an LCD line and a NUL */

typedef struct {
    const tsim_config *config;
    uint8_t mode;
    uint8_t provisioned;
    uint8_t locked;
    tsim_suite suite;
    uint8_t secret[TSIM_MAX_SECRET];
    uint8_t secret_len;
    uint64_t counter;
    /* receive side of the framing */
    uint8_t rx[TSIM_MAX_FRAME - 1];
    uint8_t rx_len;
    uint8_t rx_skipping;
    uint16_t dropped;
    /* reply cache: the last decoded request and the encoded reply it got */
    uint8_t cache_request[TSIM_MAX_FRAME - 2];
    uint8_t cache_request_len;
    uint8_t cache_reply[TSIM_MAX_FRAME];
    uint8_t cache_reply_len;
    /* keypad state machine: 0 off, 1 PIN>, 2 CHALLNG>, 3 showing a response */
    uint8_t key_state;
    char key_pin[TSIM_PIN_DIGITS + 1];
    char key_challenge[TSIM_MAX_CHALLENGE + 1];
    uint8_t key_len;
    char screen[TSIM_SCREEN_SIZE];
} tsim_device;

/*
 * Starts the board from its stored image (NULL or invalid means nothing stored). The board is in
 * provisioning mode when provisioning_held is non-zero (jumper or button at boot) or nothing is
 * stored; that lasts until the next reset.
 */
void tsim_device_init(tsim_device *dev, const tsim_config *config, const uint8_t *image, size_t image_len,
                      int provisioning_held);
/* The READY frame to send once the board has booted. out needs TSIM_MAX_FRAME bytes. */
size_t tsim_device_ready(tsim_device *dev, uint8_t *out, size_t cap);
/* A LOG frame. */
size_t tsim_device_log(tsim_device *dev, uint8_t level, const char *text, uint8_t *out, size_t cap);
/*
 * Takes one received byte. When it completes a valid request, writes the encoded reply to out and
 * returns its length; otherwise returns 0. Garbage is dropped and counted in dev->dropped.
 */
size_t tsim_device_feed(tsim_device *dev, uint8_t byte, uint8_t *out, size_t cap);
/* Feeds a key of the optional keypad; the text to show is in dev->screen afterwards. */
void tsim_device_key(tsim_device *dev, char key);
/* Serialises the stored state for the save callback; image needs TSIM_IMAGE_SIZE bytes. */
void tsim_device_image(const tsim_device *dev, uint8_t image[TSIM_IMAGE_SIZE]);

#ifdef __cplusplus
}
#endif

#endif /* TSIM_H */
