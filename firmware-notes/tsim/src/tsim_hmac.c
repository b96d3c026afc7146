/* HMAC as specified in RFC 2104 section 2, over SHA-1 or SHA-256 (block size B = 64 bytes). */
#include "tsim.h"

#include <string.h>

#define IPAD 0x36
#define OPAD 0x5c

size_t tsim_hash_size(uint8_t alg)
{
    switch (alg) {
    case TSIM_HASH_SHA1:
        return TSIM_SHA1_SIZE;
    case TSIM_HASH_SHA256:
        return TSIM_SHA256_SIZE;
    default:
        return 0;
    }
}

int tsim_hash_init(tsim_hash_ctx *ctx, uint8_t alg)
{
    ctx->alg = alg;
    if (alg == TSIM_HASH_SHA1) {
        tsim_sha1_init(&ctx->u.sha1);
    } else if (alg == TSIM_HASH_SHA256) {
        tsim_sha256_init(&ctx->u.sha256);
    } else {
        return -1;
    }
    return 0;
}

void tsim_hash_update(tsim_hash_ctx *ctx, const uint8_t *data, size_t len)
{
    if (ctx->alg == TSIM_HASH_SHA1) {
        tsim_sha1_update(&ctx->u.sha1, data, len);
    } else {
        tsim_sha256_update(&ctx->u.sha256, data, len);
    }
}

size_t tsim_hash_final(tsim_hash_ctx *ctx, uint8_t *out)
{
    if (ctx->alg == TSIM_HASH_SHA1) {
        tsim_sha1_final(&ctx->u.sha1, out);
        return TSIM_SHA1_SIZE;
    }
    tsim_sha256_final(&ctx->u.sha256, out);
    return TSIM_SHA256_SIZE;
}

static void pad_block(tsim_hash_ctx *hash, const uint8_t key[TSIM_BLOCK_SIZE], uint8_t pad)
{
    uint8_t block[TSIM_BLOCK_SIZE];
    unsigned i;
    for (i = 0; i < TSIM_BLOCK_SIZE; i++) {
        block[i] = (uint8_t)(key[i] ^ pad);
    }
    tsim_hash_update(hash, block, sizeof block);
    memset(block, 0, sizeof block);
}

int tsim_hmac_init(tsim_hmac_ctx *ctx, uint8_t alg, const uint8_t *key, size_t key_len)
{
    memset(ctx->key, 0, sizeof ctx->key);
    if (tsim_hash_size(alg) == 0) {
        return -1;
    }
    if (key_len > TSIM_BLOCK_SIZE) {
        /* Keys longer than B bytes are first hashed (RFC 2104 section 2). */
        tsim_hash_init(&ctx->inner, alg);
        tsim_hash_update(&ctx->inner, key, key_len);
        tsim_hash_final(&ctx->inner, ctx->key);
    } else if (key_len > 0) {
        memcpy(ctx->key, key, key_len);
    }
    tsim_hash_init(&ctx->inner, alg);
    pad_block(&ctx->inner, ctx->key, IPAD);
    return 0;
}

void tsim_hmac_update(tsim_hmac_ctx *ctx, const uint8_t *data, size_t len)
{
    tsim_hash_update(&ctx->inner, data, len);
}

size_t tsim_hmac_final(tsim_hmac_ctx *ctx, uint8_t *out)
{
    uint8_t inner[TSIM_MAX_DIGEST];
    uint8_t alg = ctx->inner.alg;
    size_t size = tsim_hash_final(&ctx->inner, inner);
    tsim_hash_init(&ctx->inner, alg);
    pad_block(&ctx->inner, ctx->key, OPAD);
    tsim_hash_update(&ctx->inner, inner, size);
    tsim_hash_final(&ctx->inner, out);
    memset(inner, 0, sizeof inner);
    memset(ctx, 0, sizeof *ctx);
    return size;
}
