# Test labels by folder: a test's labels are the folder its file is in (bids, cli, io, mark,
# modules, pacs, physics, train, validation), plus `tools` where the file runs programs that are not
# medsynth (python3 with nibabel/pydicom/skimage, dcm2niix, dciodvfy, plastimatch, DCMTK's tools,
# Orthanc, Chromium, the BIDS validator, openssl, network namespaces), plus `slow` for Slow* suites.
# `ctest -L io`, `ctest -L tools`, `ctest -LE tools` pick by them. Suites are read from the files'
# TEST/TEST_F lines at configure time; a suite defined in two folders is refused (labels must not
# overlap), and a last discovery with the rest catches anything not read (label `other`).
set(MEDSYNTH_TOOLS_REGEX
    "python\\(|plastimatch|dcm2niix|dciodvfy|storescu|findscu|movescu|echoscu|getscu|dcmodify|dcmdump|OrthancServer|chromium|bids_validator|expect_valid_bids|openssl|stunnel|make_test_ca|two_hosts\\.h|dicom_compare\\.h")

function(medsynth_discover_by_folder target)
  # Pass 1: each suite's labels, the union over the files that define it (within this target).
  set(suites "")
  foreach(src ${ARGN})
    get_filename_component(dir "${src}" DIRECTORY)
    get_filename_component(folder "${dir}" NAME)
    file(READ "${src}" text)
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${src}")
    string(REGEX MATCH "${MEDSYNTH_TOOLS_REGEX}" uses_tool "${text}")
    string(REGEX MATCHALL "\n(TEST|TEST_F|TYPED_TEST)\\([A-Za-z0-9_]+" heads "\n${text}")
    foreach(head ${heads})
      string(REGEX REPLACE ".*\\(" "" suite "${head}")
      if(DEFINED folder_${suite} AND NOT folder_${suite} STREQUAL folder)
        message(FATAL_ERROR "${target}: test suite ${suite} is defined in tests/${folder_${suite}} and tests/${folder}: rename one")
      endif()
      if(NOT DEFINED folder_${suite})
        set(folder_${suite} "${folder}")
        list(APPEND suites "${suite}")
      endif()
      if(uses_tool)
        set(tools_${suite} ON)
      endif()
    endforeach()
  endforeach()
  # Pass 2: one discovery per distinct set of labels (the filters are disjoint by construction).
  set(groups "")
  set(all "")
  foreach(suite ${suites})
    set(labels "${folder_${suite}}")
    if(tools_${suite})
      list(APPEND labels tools)
    endif()
    if(suite MATCHES "^Slow")
      list(APPEND labels slow)
    endif()
    # One label string per test, the parts joined by '-' (io-tools, train-slow): gtest_discover_tests
    # cannot pass a list of labels (CMake issue 17812), and ctest -L / -LE match by regular
    # expression, so `-L io`, `-L tools` and `-LE tools` select as with separate labels.
    string(REPLACE ";" "-" key "${labels}")
    if(NOT key IN_LIST groups)
      list(APPEND groups "${key}")
    endif()
    list(APPEND group_${key} "${suite}.*")
    list(APPEND all "${suite}.*")
  endforeach()
  foreach(key ${groups})
    string(REPLACE ";" ":" filter "${group_${key}}")
    # Slow* suites run many whole runs in one test (every shipped recipe): their own time limit,
    # above scripts/test.sh's --timeout 900 for the others (a CPU without AVX512-BF16 trains the
    # recipes in float32, about 3x slower).
    set(timeout "")
    if(key MATCHES "slow")
      set(timeout TIMEOUT 2700)
    endif()
    gtest_discover_tests(${target} TEST_FILTER "${filter}" PROPERTIES LABELS "${key}" ${timeout} DISCOVERY_TIMEOUT 120)
  endforeach()
  string(REPLACE ";" ":" rest "${all}")
  gtest_discover_tests(${target} TEST_FILTER "-${rest}" PROPERTIES LABELS other DISCOVERY_TIMEOUT 120)
endfunction()
