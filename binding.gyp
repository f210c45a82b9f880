# The ring-signature addon (core/crypto/native/secp256k1-lincomb.c), built by node-gyp from the sources of
# the exact `secp256k1` package version in package.json, with the configuration that package's own
# binding.gyp builds its prebuilt binary with. scripts/build-native.mjs runs it.
{
  'variables': {
    'libsecp256k1': '<!(node -p "require(\'path\').join(require(\'path\').dirname(require.resolve(\'secp256k1/package.json\')), \'src\', \'secp256k1\')")',
  },
  'targets': [
    {
      'target_name': 'secp256k1_lincomb',
      'sources': ['core/crypto/native/secp256k1-lincomb.c'],
      'include_dirs': ['<(libsecp256k1)', '<(libsecp256k1)/src'],
      'cflags': ['-Wno-unused-function', '-Wno-nonnull-compare'],
      'defines': [
        'ECMULT_GEN_PREC_BITS=4',
        'ECMULT_WINDOW_SIZE=15',
        'USE_ENDOMORPHISM=1',
        'USE_NUM_NONE=1',
        'USE_FIELD_INV_BUILTIN=1',
        'USE_SCALAR_INV_BUILTIN=1',
      ],
      'conditions': [
        ['target_arch=="x64" and OS!="win"', {
          'defines': ['HAVE___INT128=1', 'USE_ASM_X86_64=1', 'USE_FIELD_5X52=1', 'USE_SCALAR_4X64=1'],
        }, 'target_arch=="arm64" and OS!="win"', {
          'defines': ['HAVE___INT128=1', 'USE_FIELD_5X52=1', 'USE_SCALAR_4X64=1'],
        }, {
          'defines': ['USE_FIELD_10X26=1', 'USE_SCALAR_8X32=1'],
        }],
        ['OS=="linux"', { 'libraries': ['-pthread', '-ldl'] }],
      ],
    },
  ],
}
