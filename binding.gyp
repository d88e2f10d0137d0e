{
  "targets": [
    {
      "target_name": "shmkit",
      "sources": ["native/addon.cc", "native/wait.cc", "native/named-semaphore.cc"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "conditions": [
        ["OS!='win'", { "sources": ["native/unix/segment.cc", "native/unix/semaphore.cc", "native/unix/thread.cc", "native/async-wait-threads.cc"] }],
        ["OS=='win'", {
          "sources": ["native/win/segment.cc", "native/win/owner-win.cc", "native/win/thread.cc", "native/win/semaphore.cc", "native/win/wait-win.cc"],
          "defines": ["_WIN32_WINNT=0x0A00"],
          "libraries": ["advapi32.lib", "synchronization.lib"]
        }],
        ["OS=='linux'", {
          "sources": ["native/unix/futex-linux.cc", "native/unix/owner-linux.cc", "native/unix/async-wait-io_uring.cc"],
          "libraries": ["-lrt", "-lpthread"]
        }],
        ["OS=='mac'", {
          "sources": ["native/unix/futex-darwin.cc", "native/unix/owner-darwin.cc"],
          "xcode_settings": { "CLANG_CXX_LANGUAGE_STANDARD": "c++17", "MACOSX_DEPLOYMENT_TARGET": "11.0" }
        }]
      ]
    }
  ]
}
